"""What the live view shows, on plain numpy (no ROS, no browser): dexpie_viewer.streams, the
bag path (dexpie-view) and the launch arguments."""
from __future__ import annotations

import numpy as np
import pytest

from dexpie_viewer import streams
from dexpie_viewer.rerun_sink import is_loopback, server_command, viewer_url
from dexpie_viewer.streams import (
    DOCUMENT, EDGES_PATH, EVENTS_PATH, IMAGE, SCALAR, SOURCE_PATH, STATUS_PATH, TEXT_LOG, ViewerStreams,
    plotted_joints)

NAMES = ("a", "b", "c", "d", "e", "f", "g", "h")
DT_NS = 10_000_000


def by_path(records):
    out = {}
    for r in records:
        out.setdefault(r.path, []).append(r)
    return out


def test_plotted_joints_default_spread_requested_and_unknown():
    assert plotted_joints(NAMES) == ("a", "c", "e", "g")
    assert plotted_joints(NAMES[:3]) == ("a", "b", "c")
    assert plotted_joints(NAMES, ["h", "b"]) == ("h", "b")
    with pytest.raises(ValueError, match=r"\['zz'\] are not joints"):
        plotted_joints(NAMES, ["zz"])


def test_joint_states_and_commands_by_name_whatever_the_message_order():
    s = ViewerStreams(("c", "a"), control_dt=0.01)
    records = s.joint_state(5, ["c", "b", "a"], np.array([3.0, 2.0, 1.0]))
    assert [(r.path, r.kind, r.stamp_ns, r.value) for r in records] == [
        ("joints/c/position", SCALAR, 5, 3.0), ("joints/a/position", SCALAR, 5, 1.0)]
    records = s.command(6, ["a", "c"], [np.nan, 7.0])      # a NaN is not drawn
    assert [(r.path, r.value) for r in records] == [("joints/c/command", 7.0)]
    assert (s.counters.joint_states, s.counters.commands) == (1, 1)


def test_takeover_and_handback_edges_are_logged_with_reason_and_status():
    s = ViewerStreams(("a",), control_dt=0.01)
    first = s.intervention(0, 0, 0, 0, 0)
    assert [(r.path, r.value) for r in first if r.kind == SCALAR] == [(SOURCE_PATH, 0.0)]
    assert by_path(first)[STATUS_PATH][0].kind == DOCUMENT      # first tick: who is in control
    assert s.intervention(1, 0, 0, 0, 0) == [streams.Record(SOURCE_PATH, SCALAR, 1, 0.0)]  # nothing new
    takeover = by_path(s.intervention(2, 1, 1, 2, 1))
    assert takeover[SOURCE_PATH][0].value == 1.0
    assert takeover[EDGES_PATH][0].kind == TEXT_LOG
    assert takeover[EDGES_PATH][0].value == "takeover: policy -> human (device motion), intervention 1"
    assert "In control: human" in takeover[STATUS_PATH][0].value
    assert "takeovers this episode: 1" in takeover[STATUS_PATH][0].value
    handback = by_path(s.intervention(3, 0, 2, 3, 1))
    assert handback[EDGES_PATH][0].value == "hand-back: human -> policy (operator idle)"
    hold = by_path(s.intervention(4, 2, 3, 5, 1, "estop pressed"))
    assert hold[EDGES_PATH][0].level == "WARN" and hold[EDGES_PATH][0].value.endswith("(e-stop): estop pressed")
    assert s.counters.edges == 3 and s.counters.interventions == 5


def test_chunk_rows_are_placed_on_the_ticks_they_are_planned_for():
    s = ViewerStreams(("b", "a"), control_dt=DT_NS / 1e9)
    targets = np.arange(8.0).reshape(4, 2)        # rows k = 0..3, columns a, b
    records = s.action_chunk(stamp_ns=1_000 + 2 * DT_NS, observation_stamp_ns=1_000, joint_names=["a", "b"],
                             targets=targets.ravel(), start_index=2)
    plan = by_path(records)
    # rows 0 and 1 were due before the chunk arrived (delay): only rows 2 and 3 are planned
    assert [(r.stamp_ns, r.value) for r in plan["joints/a/plan"]] == [(1_000 + 2 * DT_NS, 4.0),
                                                                       (1_000 + 3 * DT_NS, 6.0)]
    assert [r.value for r in plan["joints/b/plan"]] == [5.0, 7.0]
    assert s.counters.chunks == 1


def test_images_are_rate_limited_per_camera():
    s = ViewerStreams(("a",), control_dt=0.01, image_period_ns=100)
    image = np.zeros((4, 6, 3), np.uint8)
    shown = [bool(s.image(t, "front", image)) for t in (0, 50, 100, 150, 230)]
    assert shown == [True, False, True, False, True]
    assert s.image(60, "side", image)[0].kind == IMAGE       # another camera, its own period
    assert s.counters.images == 4


def test_episode_events_carry_the_outcome():
    s = ViewerStreams(("a",), control_dt=0.01)
    start = by_path(s.episode_event(0, streams.EVENT_START, "ep1", "relocate", "init"))
    assert start[EVENTS_PATH][0].value == "START ep1 (relocate, stage init)"
    assert "outcome: running" in start[STATUS_PATH][0].value
    end = by_path(s.episode_event(9, streams.EVENT_END, "ep1", outcome=2, detail="timeout"))
    assert end[EVENTS_PATH][0].value == "END ep1: FAILURE (timeout)" and end[EVENTS_PATH][0].level == "WARN"
    assert "outcome: failure" in end[STATUS_PATH][0].value
    assert s.episode_event(10, streams.EVENT_END, "ep2", outcome=1)[0].value == "END ep2: SUCCESS"


def test_a_recorded_episode_shows_the_same_streams(tmp_path):
    from episode_helpers import DT_NS as BAG_DT_NS, START_NS, make_meta, write_random_episode
    from dexpie_episode import read_episode
    from dexpie_viewer.view_bags import episode_records, read_episodes

    written = write_random_episode(tmp_path, "ep_a", num_ticks=40, meta=make_meta(cameras=("front",)))
    episode = read_episode(tmp_path / "ep_a")
    joints = plotted_joints(episode.meta.joint_names)
    s, records = episode_records(episode, joints)
    paths = by_path(records)
    assert (s.counters.joint_states, s.counters.commands, s.counters.interventions, s.counters.images) == (40,) * 4
    assert s.counters.chunks == len(written["chunks"]) == 5
    # the helper switches the source every 10 ticks and marks each switch edge 1 (TAKEOVER)
    assert [(r.stamp_ns, r.value.split(",")[0]) for r in paths[EDGES_PATH]] == [
        (START_NS + BAG_DT_NS * 10, "takeover: policy -> human"),
        (START_NS + BAG_DT_NS * 20, "takeover: human -> policy"),
        (START_NS + BAG_DT_NS * 30, "takeover: policy -> human")]
    np.testing.assert_allclose([r.value for r in paths[f"joints/{joints[0]}/position"]], written["q"][:, 0])
    assert [r.stamp_ns for r in paths[f"joints/{joints[0]}/command"]] == [START_NS + BAG_DT_NS * t
                                                                          for t in range(40)]
    events = [r.value for r in paths[EVENTS_PATH]]
    assert events[0].startswith("START ep_a") and events[-1] == "END ep_a: SUCCESS"
    assert any(e.startswith("STAGE ") for e in events)
    # a folder of bags and a single bag both read
    assert [e.episode_id for e in read_episodes(tmp_path)[0]] == ["ep_a"]
    assert [e.episode_id for e in read_episodes(tmp_path / "ep_a")[0]] == ["ep_a"]


def test_dexpie_view_saves_a_recording_per_episode(tmp_path, capsys):
    from episode_helpers import write_random_episode
    from dexpie_viewer.view_bags import main
    write_random_episode(tmp_path / "bags", "ep_a", num_ticks=20)
    write_random_episode(tmp_path / "bags", "ep_b", num_ticks=20, seed=1)
    assert main([str(tmp_path / "bags"), "--save", str(tmp_path / "rrd")]) == 0
    files = sorted(p.name for p in (tmp_path / "rrd").iterdir())
    assert files == ["ep_a.rrd", "ep_b.rrd"]
    assert all((tmp_path / "rrd" / f).stat().st_size > 10_000 for f in files)   # images and plots inside
    assert "ep_a: 20 ticks, 3 chunks, 1 control edges, outcome success" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--save", str(tmp_path / "x")]) == 1


def test_localhost_by_default_and_opening_to_other_hosts():
    assert viewer_url("127.0.0.1", 9090, 9876) == \
        "http://127.0.0.1:9090/?url=rerun%2Bhttp%3A%2F%2F127.0.0.1%3A9876%2Fproxy"
    local = server_command("127.0.0.1", 9090, 9876, "1GiB")
    assert local[local.index("--bind") + 1] == "127.0.0.1" and "--cors-allow-origin" not in local
    opened = server_command("0.0.0.0", 9090, 9876, "1GiB")
    assert opened[opened.index("--cors-allow-origin") + 1] == "http://*:9090"
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and not is_loopback("0.0.0.0")


def test_viewer_launch_arguments():
    from dexpie_bringup.graph import GraphOptions, rollout_graph, teleop_graph
    from dexpie_bringup.launcher import parse_launch_arguments
    off = rollout_graph(GraphOptions(checkpoint="/p"))
    assert "viewer" not in [n.name for n in off]
    assert ("cameras", ["fixed"]) not in dict((n.name, n) for n in off)["sim_hand"].parameters
    on = {n.name: n for n in rollout_graph(parse_launch_arguments(
        ["checkpoint:=/p", "viewer:=true", "viewer_bind:=0.0.0.0", "viewer_port:=8000"]))}
    viewer = on["viewer"]
    assert (viewer.package, viewer.executable, viewer.required) == ("dexpie_viewer", "viewer", False)
    assert {"bind": "0.0.0.0", "web_port": 8000, "grpc_port": 9876}.items() <= dict(viewer.parameters).items()
    assert ("cameras", ["fixed"]) in on["sim_hand"].parameters
    assert "viewer" in [n.name for n in teleop_graph(GraphOptions(viewer=True))]
    given = {n.name: n for n in rollout_graph(GraphOptions(
        checkpoint="/p", viewer=True, extra_parameters=(("sim_hand", "cameras", ["vil_camera"]),)))}
    assert [v for k, v in given["sim_hand"].parameters if k == "cameras"] == [["vil_camera"]]
    for bad in (["viewer_port:=0"], ["viewer_port:=9876"], ["viewer_grpc_port:=http"]):
        with pytest.raises(ValueError, match="viewer"):
            rollout_graph(parse_launch_arguments(["checkpoint:=/p", "viewer:=true"] + bad))
