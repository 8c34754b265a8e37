"""Learning on a hand the twin has never seen, the way a robot workstation runs it.

The bags are of a hand that is none of the twin's (a 6-joint arm carrying a 16-joint
four-finger hand, a task named "cup_flip") and carry its hand description in their metadata,
as the episode recorder writes it. `train bc`, `critic`, `label` and `policy` then run in a
process where importing the twin (dexpie_sim, dexpie_experiment, mujoco) or ROS (rclpy) fails,
as on a workstation without them.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dexpie_common.hand import HandDescription, JointGroup
from dexpie_episode import (OUTCOME_FAILURE, OUTCOME_SUCCESS, SOURCE_HUMAN, SOURCE_POLICY,
                            EpisodeMeta, EpisodeWriter)
from dexpie_learning.datasets import DatasetError
from dexpie_learning.train.data import load_training_data

ARM = tuple(f"arm_{i}" for i in range(6))
FINGERS = tuple(f"{finger}_{k}" for finger in ("index", "middle", "ring", "thumb") for k in range(4))
HAND = HandDescription(
    name="four_finger_test_hand", joint_names=ARM + FINGERS,
    groups=(JointGroup("wrist", ARM, "spacemouse", "relative_joint"),
            JointGroup("digits", FINGERS, "glove", "absolute_joint")),
    lower_limits=(-1.0,) * 22, upper_limits=(1.0,) * 22, max_velocity=(2.0,) * 22,
    control_rate_hz=50.0, max_episode_steps=60, object_names=("cup_x", "cup_y", "cup_tilt"))
TASK = "cup_flip"
BLOCKED = ("dexpie_sim", "dexpie_experiment", "mujoco", "rclpy")


def write_episode(folder: Path, seed: int, outcome: int, human=None, hand=HAND,
                  stage: str = "init", objects: bool = True) -> Path:
    """A smooth reach toward a seeded goal; `human` (start, stop) ticks are interventions."""
    rng = np.random.default_rng(seed)
    goal = rng.uniform(-0.5, 0.5, len(HAND.joint_names))
    ticks = 40
    meta = EpisodeMeta(task=TASK, stage=stage, seed=seed, joint_names=HAND.joint_names, control_dt=HAND.control_dt,
                       object_names=HAND.object_names if objects else (), hand=hand)
    q = np.zeros(len(HAND.joint_names))
    with EpisodeWriter(folder, meta) as writer:
        for t in range(ticks):
            command = q + 0.1 * (goal - q) + rng.normal(0, 0.005, q.shape)
            is_human = human is not None and human[0] <= t < human[1]
            writer.write_tick(int(t * 20_000_000), q, np.zeros_like(q), command,
                              object_state=[goal[0], goal[1], 0.1 * t] if objects else None,
                              policy_command=None if is_human else command,
                              source=SOURCE_HUMAN if is_human else SOURCE_POLICY,
                              edge=int(human is not None and t in human),
                              intervention_id=1 if is_human else 0)
            q = q + 0.8 * (command - q)
        return writer.close(outcome)


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("any_hand")
    for seed in range(4):
        write_episode(root / "demos", seed, OUTCOME_SUCCESS, human=(0, 40))
    for seed, outcome, human in ((10, OUTCOME_FAILURE, (15, 30)), (11, OUTCOME_SUCCESS, None),
                                 (12, OUTCOME_FAILURE, None), (13, OUTCOME_SUCCESS, (5, 20))):
        write_episode(root / "rollouts", seed, outcome, human=human)
    return root


TRAIN_WITHOUT_TWIN = textwrap.dedent("""
    import sys
    for name in {blocked!r}:
        sys.modules[name] = None          # `import name` now raises ImportError
    from dexpie_learning.train.cli import main
    root = sys.argv[1]
    tiny = ["--quiet", "--steps", "8", "--batch-size", "16", "--hidden-size", "32",
            "--num-layers", "1"]
    data = ["--demos", root + "/demos", "--rollouts", root + "/rollouts"]
    steps = [["bc", "--demos", root + "/demos", "--out", root + "/bc", "--horizon", "8",
              "--threads", "1", *tiny],
             ["critic", *data, "--out", root + "/critic", "--num-bins", "21", *tiny],
             ["label", *data, "--critic", root + "/critic", "--labels", root + "/dataset",
              "--horizon", "8"],
             ["policy", *data, "--labels", root + "/dataset", "--out", root + "/dexpie",
              "--horizon", "8", "--threads", "1", *tiny]]
    for argv in steps:
        assert main(argv) == 0, argv
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r}
                    and sys.modules[m] is not None)
    print("LEAKED", leaked)
""").format(blocked=BLOCKED)


def test_bc_critic_label_policy_train_where_the_twin_and_ros_cannot_be_imported(bags):
    result = subprocess.run([sys.executable, "-c", TRAIN_WITHOUT_TWIN, str(bags)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "LEAKED []" in result.stdout
    # The checkpoints carry the hand, the critic knows its L from it.
    from dexpie_policy.runner import PolicyRunner
    for name in ("bc", "dexpie"):
        runner = PolicyRunner.from_pretrained(bags / name)
        assert runner.hand == HAND and runner.joint_names == HAND.joint_names
        assert [g.name for g in runner.spec.groups] == ["wrist", "digits"]
        chunk = runner.predict_chunk(np.zeros(22), object_state=np.zeros(3))
        assert chunk.shape == (8, 22) and np.all(np.isfinite(chunk))
    critic = json.loads((bags / "critic" / "training.json").read_text())
    assert critic["returns"]["max_episode_steps"] == HAND.max_episode_steps
    assert json.loads((bags / "dexpie" / "training.json").read_text())["hand"] == HAND.name


def test_bags_without_a_hand_need_one_from_a_file(tmp_path):
    for seed in range(2):
        write_episode(tmp_path / "demos", seed, OUTCOME_SUCCESS, hand=None)
    with pytest.raises(DatasetError, match=r"recorded without a hand description .* --hand FILE"):
        load_training_data([tmp_path / "demos"], progress=False)
    # The graph's parameters file is a hand file (its '/**' section holds hand.*).
    params = tmp_path / "my_robot.yaml"
    params.write_text("/**:\n  ros__parameters:\n" + textwrap.indent(HAND.parameters_yaml(), "    ")
                      + "hand_controller:\n  ros__parameters:\n    rate_hz: 50.0\n")
    from dexpie_common.hand import load_hand_file
    data = load_training_data([tmp_path / "demos"], progress=False, hand=load_hand_file(params))
    assert data.hand == HAND
    # A hand file that does not describe the recorded joints is refused, naming the bag.
    other = dataclasses.replace(HAND, joint_names=HAND.joint_names[::-1],
                                lower_limits=HAND.lower_limits)
    with pytest.raises(DatasetError, match=r"demos/.*: the hand description's joint_names"):
        load_training_data([tmp_path / "demos"], progress=False, hand=other)


def test_bags_whose_hands_disagree_are_an_error_naming_both_bags_and_the_field(tmp_path):
    first = write_episode(tmp_path / "demos", 0, OUTCOME_SUCCESS)
    slower = dataclasses.replace(HAND, max_velocity=(1.0,) * 22)
    second = write_episode(tmp_path / "demos", 1, OUTCOME_SUCCESS, hand=slower)
    with pytest.raises(DatasetError) as error:
        load_training_data([tmp_path / "demos"], progress=False)
    message = str(error.value)
    assert "['max_velocity']" in message
    assert Path(first).name in message and Path(second).name in message


def test_a_hand_without_object_state_trains_on_proprioception_without_being_told(tmp_path):
    """A robot records no object state: its hand declares none, and training's default
    (use_object_state) takes none, without --no-use-object-state."""
    from dexpie_learning.train.bc import train_bc
    from dexpie_learning.train.config import BCConfig
    from dexpie_policy.runner import PolicyRunner
    robot_hand = dataclasses.replace(HAND, object_names=())
    for seed in range(2):
        write_episode(tmp_path / "robot", seed, OUTCOME_SUCCESS, human=(0, 40), hand=robot_hand, objects=False)
    config = BCConfig(steps=4, batch_size=8, hidden_size=16, num_layers=1, horizon=8, save_every=4)
    assert config.use_object_state
    train_bc([tmp_path / "robot"], tmp_path / "bc", config, progress=False, torch_threads=1)
    training = json.loads((tmp_path / "bc" / "training.json").read_text())
    assert training["config"]["use_object_state"] is False
    runner = PolicyRunner.from_pretrained(tmp_path / "bc")
    assert runner.predict_chunk(np.zeros(22)).shape == (8, 22)
    # A hand that declares objects cannot have bags without them: the writer refuses.
    with pytest.raises(ValueError, match="object_names"):
        write_episode(tmp_path / "lost", 0, OUTCOME_SUCCESS, human=(0, 40), objects=False)
