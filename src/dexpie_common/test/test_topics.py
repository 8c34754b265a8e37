"""Topic and service names have one home, dexpie_common/topics.py; the bag's stay as stored."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from dexpie_common import topics

SRC = Path(__file__).resolve().parents[2]
TOPICS_PY = Path(topics.__file__).resolve()
PLACEHOLDER = "\0"   # stands for an f-string's {...} when matching


def graph_names() -> set[str]:
    """Every absolute name defined in topics.py (live topics, services, bag topics)."""
    return {value for name, value in vars(topics).items()
            if name.isupper() and isinstance(value, str) and value.startswith("/")}


def name_pattern() -> re.Pattern:
    """A string that is, or starts with, a name of topics.py (camera topics for any camera)."""
    camera = re.escape(topics.camera_topic(PLACEHOLDER)).replace(PLACEHOLDER, f"(?:\\w+|{PLACEHOLDER})")
    names = [re.escape(name) for name in sorted(graph_names(), key=len, reverse=True)] + [camera]
    # Followed by the end or by something that cannot continue a name ("/joint_states ignored").
    return re.compile(f"^(?:{'|'.join(names)})(?![\\w/])")


def spelled_out_names(source: str, pattern: re.Pattern) -> list[tuple[int, str]]:
    """(line, text) of each string constant or f-string of `source` that spells out a name.
    Docstrings (and other bare string statements) are prose, not names: not scanned."""
    tree = ast.parse(source)
    found, inside_fstrings = [], set()
    prose = {id(node.value) for node in ast.walk(tree)
             if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(part.value if isinstance(part, ast.Constant) else PLACEHOLDER
                           for part in node.values)
            inside_fstrings.update(id(part) for part in node.values)
            if pattern.match(text):
                found.append((node.lineno, text.replace(PLACEHOLDER, "{...}")))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in inside_fstrings | prose and pattern.match(node.value)):
            found.append((node.lineno, node.value))
    return found


def non_test_modules() -> list[Path]:
    """The packages' code, launch files and scripts under src/, without their tests."""
    return sorted(path for path in SRC.glob("*/**/*.py")
                  if "test" not in path.relative_to(SRC).parts and path.resolve() != TOPICS_PY)


def test_no_module_spells_out_a_name_that_topics_py_defines():
    modules = non_test_modules()
    scanned = {path.relative_to(SRC).as_posix() for path in modules}
    # The scan reaches the nodes (an empty or misplaced scan would pass vacuously).
    assert {"dexpie_policy/dexpie_policy/policy_server_node.py",
            "dexpie_episode/dexpie_episode/episode_recorder_node.py",
            "dexpie_bringup/dexpie_bringup/graph.py"} <= scanned
    pattern = name_pattern()
    offenders = [f"{path.relative_to(SRC)}:{line}: {text!r}"
                 for path in modules for line, text in spelled_out_names(path.read_text(), pattern)]
    assert not offenders, ("use the names of dexpie_common.topics instead of spelling them out:\n"
                           + "\n".join(offenders))


def test_the_scan_finds_literals_f_strings_and_log_lines_but_not_prose():
    source = '''
a = "/joint_states"
b = f"/camera/{name}/image_raw"
c = "/camera/front/image_raw"
d = f"/sim/task_status ignored: {error}"
e = "/episode/start refused"
f = "/object/state"
ok_1 = "record /sim/object_state (simulation only)"
ok_2 = "/joint_states_filtered"
ok_3 = f"{topics.JOINT_STATES} ignored"
ok_4 = "/camera/<name>/image_raw is where images go"
ok_5 = "/hand_controller/estop_extra"
def documented():
    """/hand/command: what the arbiter sent."""
'''
    found = spelled_out_names(source, name_pattern())
    assert sorted(line for line, _ in found) == [2, 3, 4, 5, 6, 7]
    assert (3, "/camera/{...}/image_raw") in found and (5, "/sim/task_status ignored: {...}") in found


def test_bag_topic_names_are_the_stored_format():
    # Pinned literally: these are written into every bag, and old bags must keep reading.
    # Renaming a live topic must not silently rename its stream in new bags.
    assert (topics.BAG_JOINT_STATES, topics.BAG_HAND_COMMAND, topics.BAG_POLICY_COMMAND,
            topics.BAG_INTERVENTION_STATE, topics.BAG_ACTION_CHUNK, topics.BAG_EPISODE_EVENTS,
            topics.BAG_OBJECT_STATE) == (
        "/joint_states", "/hand/command", "/policy/command", "/intervention/state",
        "/policy/action_chunk", "/episode/events", "/object/state")
    assert topics.camera_topic("front") == "/camera/front/image_raw"
    # The one stream whose bag name is not the live one.
    assert topics.BAG_OBJECT_STATE != topics.SIM_OBJECT_STATE == "/sim/object_state"


def test_live_names_are_distinct():
    live = {name: value for name, value in vars(topics).items()
            if name.isupper() and isinstance(value, str) and not name.startswith("BAG_")}
    by_value: dict[str, list[str]] = {}
    for name, value in live.items():
        by_value.setdefault(value, []).append(name)
    shared = {value: sorted(names) for value, names in by_value.items() if len(names) > 1}
    # The e-stop is both a topic and a service of the same name (documented in topics.py).
    assert shared == {topics.HAND_CONTROLLER_ESTOP: ["HAND_CONTROLLER_ESTOP",
                                                     "HAND_CONTROLLER_ESTOP_SERVICE"]}
