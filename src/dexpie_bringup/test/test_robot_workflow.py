"""README "On a robot", run literally, on a hand DexPIE has never seen.

The hardware is `foreign_hand/emulator.py`: a 6-joint arm with a 16-joint four-finger hand,
a spring-loaded button to press (none of the twin's tasks), behaving like the hand's
ros2_control stack (/joint_states from a joint_state_broadcaster at 25 Hz in its own joint
order, position commands on the forward_command_controller topic, nothing else). A scripted
person (`foreign_hand/person.py`) holds the spacemouse and the glove (/spacenav/twist,
/spacenav/joy, /teleop/glove/joint_states), watches the scene and types at the keyboard.

Every step is the README's command, run as a user types it (only sizes are made tiny), in a
fresh folder, with the hand's parameters file filled in from config/robot_template.yaml:

  README step                                  command run here
  1 Describe the hand                          copy robot_template.yaml -> my_hand.yaml, fill in
                                               the hand: block and the (required) entries
  2 Bring up the drivers                       foreign_hand/emulator.py (hand_position_controller
                                               + joint_state_broadcaster), person.py (spacenav,
                                               glove)
  3 Record demonstrations                      dexpie-launch teleop sim:=false
                                               params_file:=my_hand.yaml output_dir:=runs/robot/demos
                                               dexpie-episodes --robot --task press_button --episodes 3
    Train the BC reference                     dexpie-train bc --demos runs/robot/demos --out runs/robot/bc
    Collect a round (takeovers, init + above)  dexpie-launch rollout sim:=false params_file:=my_hand.yaml
                                               checkpoint:=runs/robot/bc output_dir:=runs/robot/round_01
                                               dexpie-episodes --robot --task press_button --episodes 3
                                               --stages init above
    Improve                                    dexpie-train critic / label / policy (README's arguments)
    Round 2: deploy the improved policy        dexpie-launch rollout ... checkpoint:=runs/robot/r1/policy
                                               output_dir:=runs/robot/round_02, dexpie-episodes --robot
  (not run: `ros2 launch` (the same graph as dexpie-launch; no ros2 CLI in the pip runtime),
  rviz:=true (no display), the e-stop's `ros2 service call`.)

Only the emulator imports MuJoCo: every other process (graph nodes, dexpie-episodes,
dexpie-train, the person) runs with a sitecustomize that makes importing dexpie_sim,
dexpie_experiment and mujoco fail, and leaves a note that it did.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from foreign_hand import spec

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "foreign_hand"
TEMPLATE = HERE.parent / "config" / "robot_template.yaml"
BIN = Path(sys.executable).parent
BLOCKED = ("dexpie_sim", "dexpie_experiment", "mujoco")
SITECUSTOMIZE = f"""
import os, sys
for name in {BLOCKED!r}:
    sys.modules[name] = None        # importing it raises ImportError
log = os.environ.get("FOREIGN_HAND_BLOCK_LOG")
if log:
    with open(os.path.join(log, str(os.getpid())), "w") as note:
        note.write(" ".join(sys.argv))
"""
TINY = ["--quiet", "--steps", "10", "--batch-size", "16", "--hidden-size", "32", "--num-layers", "1"]
TINY_POLICY = ["--horizon", "8", "--threads", "1"]


def fill_in_template(path: Path) -> dict:
    """README step 1: the template, with the hand block and the (required) entries filled in."""
    params = yaml.safe_load(TEMPLATE.read_text())
    hand = params["/**"]["ros__parameters"]["hand"]
    joints = list(spec.COMMAND_JOINTS)
    hand.update(name=spec.NAME, joint_names=joints, lower_limits=list(spec.LOWER),
                upper_limits=list(spec.UPPER), max_velocity=list(spec.MAX_VELOCITY),
                control_rate_hz=spec.RATE_HZ, max_episode_steps=spec.MAX_EPISODE_STEPS)
    hand["groups"]["arm"]["joints"] = list(spec.ARM)
    hand["groups"]["fingers"]["joints"] = list(spec.FINGERS)
    limits = dict(joint_names=joints, lower_limits=list(spec.LOWER), upper_limits=list(spec.UPPER))
    params["hand_controller"]["ros__parameters"].update(
        max_velocity=list(spec.MAX_VELOCITY), rate_hz=spec.RATE_HZ, **limits)
    params["intervention_arbiter"]["ros__parameters"].update(
        rate_hz=spec.RATE_HZ, arm_joints=list(spec.ARM),
        twist_to_joint=np.eye(6).ravel().tolist(),            # slides x y z, then roll pitch yaw
        marker_position_joints=["arm_x", "arm_y", "arm_z"],
        device_timeout=1.0,          # this machine is busy: devices' messages arrive late
        idle_handback_time=10.0, **limits)
    params["episode_recorder"]["ros__parameters"].update(
        joint_names=joints, control_rate_hz=spec.RATE_HZ, record_object_state=False)
    class Plain(yaml.SafeDumper):   # no &anchors / *aliases: rcl's parser refuses them
        def ignore_aliases(self, data):
            return True
    path.write_text(yaml.dump(params, Dumper=Plain, sort_keys=False))
    return params


class Console:
    """A process's output, read by a thread; wait_for() looks for text after the last match."""

    def __init__(self, process: subprocess.Popen, name: str):
        self.process, self.name = process, name
        self.text, self.cursor = "", 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while chunk := os.read(self.process.stdout.fileno(), 4096):
            with self._lock:
                self.text += chunk.decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                match = re.compile(pattern).search(self.text, self.cursor)
            if match:
                self.cursor = match.end()
                return match
            if self.process.poll() is not None:
                time.sleep(0.2)     # let the reader take the last output
                with self._lock:
                    match = re.compile(pattern).search(self.text, self.cursor)
                if match:
                    self.cursor = match.end()
                    return match
                raise AssertionError(f"{self.name} exited ({self.process.returncode}) before "
                                     f"{pattern!r}:\n{self.text[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no {pattern!r} within {timeout:.0f} s:\n{self.text[-3000:]}")

    def type(self, line: str) -> None:
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()


class Workspace:
    """A fresh folder and the shell a user types in (their environment, this ROS domain)."""

    def __init__(self, root: Path):
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir()
        blocker = root / "blocker"
        blocker.mkdir()
        (blocker / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.notes = root / "imports_blocked"
        self.notes.mkdir()
        self.env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(1, 100)),
                        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
        self.env.pop("PYTHONPATH", None)
        self.blocked_env = dict(self.env, PYTHONPATH=str(blocker), FOREIGN_HAND_BLOCK_LOG=str(self.notes))
        self.processes: list[subprocess.Popen] = []

    def start(self, argv, name: str, console: bool = False, blocked: bool = True) -> subprocess.Popen | Console:
        env = self.blocked_env if blocked else self.env
        if console:
            process = subprocess.Popen(argv, cwd=self.root, env=env, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        else:
            with open(self.logs / f"{name}.log", "w") as log:
                process = subprocess.Popen(argv, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True)
        process.dexpie_name = name
        self.processes.append(process)
        return Console(process, name) if console else process

    def run(self, argv, timeout: float = 240.0) -> str:
        result = subprocess.run(argv, cwd=self.root, env=self.blocked_env, capture_output=True, text=True,
                                timeout=timeout)
        assert result.returncode == 0, f"{argv}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text()[-4000:] if path.exists() else ""

    def stop(self, process: subprocess.Popen, timeout: float = 60.0) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def close(self) -> None:
        for process in reversed(self.processes):
            self.stop(process, timeout=20)


def run_episodes(ws: Workspace, person: Console, args: list[str], plays: list[str], take: bool) -> dict:
    """`dexpie-episodes --robot ...`, the person arranging each start state, pressing Enter,
    playing its part and typing the outcome it saw."""
    episodes = ws.start([str(BIN / "dexpie-episodes"), "--robot", "--task", spec.TASK, *args,
                         "--ready-timeout", "120", "--timeout", "90"], "dexpie-episodes", console=True)
    typed = []
    for play in plays:
        stage = episodes.wait_for(r"arrange stage '(\w+)' and press Enter", 120).group(1)
        person.type(f"arrange {stage}" + (" take" if take else ""))
        person.wait_for(rf"arranged {stage}\n", 60)
        episodes.type("")                                     # Enter
        episodes.wait_for(r"recording \S+ \(stage \w+\); type s \(success\)", 150)
        person.type(play)
        seen = person.wait_for(r"done (success|failure)( took-over)?\n", 90)
        episodes.type("s" if seen.group(1) == "success" else "f")
        episodes.wait_for(rf"episode \d+/\d+: {seen.group(1)}\s+stage={stage}", 60)
        typed.append((stage, seen.group(1), bool(seen.group(2))))
    assert episodes.process.wait(60) == 0, episodes.text[-3000:]
    summary = json.loads(episodes.text.strip().splitlines()[-1])
    assert [(e["stage"], e["outcome"]) for e in summary["episodes"]] == [t[:2] for t in typed]
    return {"summary": summary, "typed": typed}


def graph(ws: Workspace, kind: str, name: str, *arguments: str) -> subprocess.Popen:
    return ws.start([str(BIN / "dexpie-launch"), kind, "sim:=false", "params_file:=my_hand.yaml", *arguments,
                     "--log-dir", str(ws.logs / name)], name)


@pytest.mark.timeout(900)
def test_readme_robot_section_on_a_foreign_hand(tmp_path):
    from dexpie_common.hand import load_hand_file
    from dexpie_episode import OUTCOME_FAILURE, OUTCOME_SUCCESS, SOURCE_HUMAN, SOURCE_POLICY, load_episodes
    from dexpie_policy.runner import PolicyRunner

    started = time.monotonic()
    ws = Workspace(tmp_path)
    try:
        # 1. Describe the hand: a filled-in copy of the template.
        fill_in_template(tmp_path / "my_hand.yaml")
        hand = load_hand_file(tmp_path / "my_hand.yaml")
        assert hand.joint_names == spec.COMMAND_JOINTS and hand.control_rate_hz == spec.RATE_HZ

        # 2. The drivers: the hand's hardware (the only process with MuJoCo) and the person.
        hardware = ws.start([sys.executable, str(FIXTURE / "emulator.py"), "--state-dir", "hand"],
                            "hardware", blocked=False)
        deadline = time.monotonic() + 90
        while not (tmp_path / "hand" / "state.json").exists():
            assert hardware.poll() is None and time.monotonic() < deadline, ws.log("hardware")
            time.sleep(0.2)
        person = ws.start([sys.executable, str(FIXTURE / "person.py"), "--state-dir", "hand"],
                          "person", console=True)
        person.wait_for("person ready")

        # 3a. Demonstrations with the teleop graph.
        teleop = graph(ws, "teleop", "teleop", "output_dir:=runs/robot/demos")
        demos = run_episodes(ws, person, ["--episodes", "3"], ["demo"] * 3, take=False)
        assert all(outcome == "success" for _, outcome, _ in demos["typed"]), demos
        ws.stop(teleop)
        assert teleop.returncode == 0, ws.log("teleop")
        demo_episodes, errors = load_episodes(tmp_path / "runs/robot/demos")
        assert not errors and len(demo_episodes) == 3
        for episode in demo_episodes:
            assert episode.meta.hand == hand and episode.outcome == OUTCOME_SUCCESS
            assert episode.meta.task == spec.TASK and 30 <= episode.num_ticks <= spec.MAX_EPISODE_STEPS
            # Under the person's control (the first episode may hold a moment, until the
            # arbiter has discovered the person's devices).
            assert episode.source[-1] == SOURCE_HUMAN and np.mean(episode.source == SOURCE_HUMAN) > 0.6
            arm_z = episode.joint_positions[:, spec.COMMAND_JOINTS.index("arm_z")]
            assert arm_z.min() < spec.STAGES["above"][2] - 0.05     # the hand went down to the button

        # 3b. The BC reference.
        ws.run([str(BIN / "dexpie-train"), "bc", "--demos", "runs/robot/demos", "--out", "runs/robot/bc",
                *TINY_POLICY, *TINY])

        # 3c. A round with the rollout graph: takeovers from init and from an intermediate stage.
        rollout = graph(ws, "rollout", "rollout_01", "checkpoint:=runs/robot/bc",
                        "output_dir:=runs/robot/round_01")
        round_01 = run_episodes(ws, person, ["--episodes", "3", "--stages", "init", "above"],
                                ["watch 1.5 takeover", "watch 1.5 takeover", "watch 2"], take=True)
        ws.stop(rollout)
        assert rollout.returncode == 0, ws.log("rollout_01")
        rollouts, errors = load_episodes(tmp_path / "runs/robot/round_01")
        assert not errors and len(rollouts) == 3
        by_stage = {}
        for episode in rollouts:
            by_stage.setdefault(episode.meta.stage, []).append(episode)
            assert episode.meta.hand == hand
            assert np.any(episode.source == SOURCE_POLICY)
        assert sorted(by_stage) == ["above", "init"]
        took_over = [e for e in rollouts if np.any(e.source == SOURCE_HUMAN)]
        typed = {stage: [] for stage in by_stage}
        for stage, outcome, over in round_01["typed"]:
            typed[stage].append((outcome, over))
        assert sum(over for _, _, over in round_01["typed"]) >= 2 and len(took_over) >= 2
        for episode in took_over:   # the button press took over, another press handed back
            assert np.any(np.diff(episode.intervention_id.astype(int)) > 0) or episode.intervention_id[0] > 0
            assert episode.source[-1] != SOURCE_HUMAN
        labelled = sorted(int(e.outcome) for e in rollouts)
        assert labelled == sorted(OUTCOME_SUCCESS if o == "success" else OUTCOME_FAILURE
                                  for _, o, _ in round_01["typed"])

        # 3d. Critic, labels, improved policy: the README's commands.
        data = ["--demos", "runs/robot/demos", "--rollouts", "runs/robot/round_01"]
        ws.run([str(BIN / "dexpie-train"), "critic", *data, "--out", "runs/robot/r1/critic",
                "--num-bins", "21", *TINY])
        ws.run([str(BIN / "dexpie-train"), "label", *data, "--critic", "runs/robot/r1/critic",
                "--labels", "runs/robot/r1/labels", "--horizon", "8"])
        ws.run([str(BIN / "dexpie-train"), "policy", *data, "--labels", "runs/robot/r1/labels",
                "--out", "runs/robot/r1/policy", *TINY_POLICY, *TINY])
        improved = PolicyRunner.from_pretrained(tmp_path / "runs/robot/r1/policy")
        assert improved.hand == hand
        # The hand declares no object state: trained on joint positions alone, without a flag.
        assert json.loads((tmp_path / "runs/robot/r1/policy/training.json").read_text())["config"][
            "use_object_state"] is False

        # 3e. Round 2: the improved checkpoint deployed through policy_server.
        rollout = graph(ws, "rollout", "rollout_02", "checkpoint:=runs/robot/r1/policy",
                        "output_dir:=runs/robot/round_02")
        run_episodes(ws, person, ["--episodes", "1"], ["watch 3"], take=True)
        ws.stop(rollout)
        assert rollout.returncode == 0, ws.log("rollout_02")
        (deployed,), errors = load_episodes(tmp_path / "runs/robot/round_02")
        # The hand holds until the server's first chunk (its first inference, on a busy machine
        # up to a few seconds), then the policy commands it to the end.
        by_policy = deployed.source == SOURCE_POLICY
        assert not errors and by_policy.sum() >= 15 and deployed.source[-1] == SOURCE_POLICY
        assert not np.any(deployed.source == SOURCE_HUMAN)
        # The policy's proposal is recorded on the ticks it answered (matched by stamp); a tick
        # the arbiter's fallback timer made on a late /joint_states (a busy machine, wall clock)
        # executes the last, still fresh proposal and records none.
        assert deployed.policy_command is not None
        proposed = np.all(np.isfinite(deployed.policy_command[by_policy]), axis=1)
        assert proposed.sum() >= 10 and proposed.mean() >= 0.5, proposed
        assert len(deployed.chunks) >= 2    # the server's action chunks, from the improved checkpoint
        policy_log = "".join(p.read_text() for p in (ws.logs / "rollout_02").glob("policy_server*.log"))
        assert "r1/policy" in policy_log, policy_log[-2000:]

        # Nobody but the emulator could import the twin or MuJoCo.
        notes = [p.read_text() for p in ws.notes.iterdir()]
        for process in ("policy_server", "intervention_arbiter", "hand_controller", "episode_recorder",
                        "dexpie-launch", "dexpie-episodes", "dexpie-train", "person.py"):
            assert any(process in note for note in notes), (process, notes)
        assert not any("emulator.py" in note for note in notes)
        person.type("quit")
        assert person.process.wait(30) == 0
        print(f"robot workflow: {time.monotonic() - started:.0f} s")
    finally:
        ws.close()


def test_the_operator_types_the_outcome_and_other_lines_are_not_one():
    import io

    from dexpie_bringup.episodes import OperatorInput, _typed, typed_outcome
    assert [typed_outcome(t) for t in ("s\n", " F ", "aborted", "", "yes")] == \
        ["success", "failure", "aborted", None, None]
    keyboard = OperatorInput(io.StringIO("\nmaybe\nf\n"))
    assert keyboard.next_line() == "\n"             # the Enter that starts the episode
    seen, deadline = [], time.monotonic() + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        outcome = _typed(keyboard)
        if outcome is not None:
            seen.append(outcome)
    assert seen == ["failure", "aborted"]           # "maybe" is no outcome; end of input aborts
