"""`dexpie-bags`: plain rosbag2 recordings (as `ros2 bag record` writes them) become episode
bags, resampled to the hand's control ticks; outcomes are set after the fact.

The recording here is what a lab's robot gives: /joint_states at 100 Hz from two publishers
(arm and fingers, each in its own joint order), commands at 30 Hz on a ros2_control
forward_command_controller topic (Float64MultiArray, no header), and the arbiter's
/intervention/state with one human window.
"""
from __future__ import annotations

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from dexpie_common.hand import HandDescription, JointGroup
import dexpie_episode as ep
from dexpie_episode.bags_cli import main as bags_main
from dexpie_episode.importer import BagImportError, ImportLabels, ImportTopics, import_plain_bag
from dexpie_episode.metadata import KEY_OUTCOME_CORRECTION, KEY_OUTCOME_RECORDED, read_bag_info
from dexpie_episode.outcome import set_episode_outcome
from dexpie_episode.typestore import episode_typestore

ARM, FINGERS = ("shoulder", "elbow"), ("index", "middle", "thumb")
HAND = HandDescription("lab_hand", ARM + FINGERS,
                       (JointGroup("arm", ARM, "spacemouse", "relative_joint"),
                        JointGroup("fingers", FINGERS, "glove", "absolute_joint")),
                       (-3.0,) * 5, (3.0,) * 5, (5.0,) * 5, 30.0, 300)
T0 = 1_700_000_000.0
DURATION = 2.0
COMMAND_TOPIC = "/hand_position_controller/commands"
HUMAN_WINDOW = (0.8, 1.3)   # s after T0


def q_true(t: float, joint: str) -> float:
    return float(np.sin(1.5 * (t - T0) + HAND.joint_names.index(joint)))


def command_true(t: float) -> np.ndarray:
    return np.array([0.5 * np.cos(t - T0) + i for i in range(5)])


def write_plain_recording(path, fingers_topic_joints=FINGERS, command_size=5,
                          with_intervention=True):
    ts = episode_typestore()
    JointState = ts.types["sensor_msgs/msg/JointState"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    Float64MultiArray = ts.types["std_msgs/msg/Float64MultiArray"]
    Layout = ts.types["std_msgs/msg/MultiArrayLayout"]
    State = ts.types["dexpie_msgs/msg/InterventionState"]

    def header(t):
        return Header(stamp=Time(sec=int(t), nanosec=int(round((t % 1) * 1e9)) % 1_000_000_000),
                      frame_id="")

    def empty(n=0):
        return np.zeros(n, dtype=np.float64)

    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        joints = writer.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=ts)
        command = writer.add_connection(COMMAND_TOPIC, "std_msgs/msg/Float64MultiArray", typestore=ts)
        state = writer.add_connection("/intervention/state", "dexpie_msgs/msg/InterventionState",
                                      typestore=ts) if with_intervention else None
        messages = []
        for k in range(int(DURATION * 100) + 1):          # two publishers at 100 Hz, own order
            t = T0 + k / 100
            for names in (tuple(reversed(ARM)), tuple(reversed(fingers_topic_joints))):
                msg = JointState(header=header(t), name=list(names),
                                 position=np.array([q_true(t, n) for n in names]),
                                 velocity=empty(), effort=empty())
                messages.append((t + 0.0005, joints, ts.serialize_cdr(msg, joints.msgtype)))
        for k in range(int(DURATION * 30) + 1):           # commands at 30 Hz, no header
            t = T0 + k / 30 + 0.002
            msg = Float64MultiArray(layout=Layout(dim=[], data_offset=0),
                                    data=command_true(t)[:command_size])
            messages.append((t, command, ts.serialize_cdr(msg, command.msgtype)))
            if state is not None:
                human = HUMAN_WINDOW[0] <= t - T0 < HUMAN_WINDOW[1]
                s = State(header=header(t), source=ep.SOURCE_HUMAN if human else ep.SOURCE_POLICY,
                          edge=0, reason=0, intervention_id=0, tick=k, human_idle_time=0.0,
                          detail="")
                messages.append((t, state, ts.serialize_cdr(s, state.msgtype)))
        for t, connection, raw in sorted(messages, key=lambda m: m[0]):
            writer.write(connection, int(t * 1e9), raw)
    return path


def test_a_plain_recording_becomes_an_episode_on_the_hands_control_ticks(tmp_path):
    bag = write_plain_recording(tmp_path / "recording")
    path = import_plain_bag(bag, tmp_path / "episodes", HAND,
                            ImportLabels(task="cup_flip", outcome=ep.OUTCOME_SUCCESS),
                            ImportTopics(command=COMMAND_TOPIC))
    episode = ep.read_episode(path)
    assert episode.meta.hand == HAND and episode.task == "cup_flip"
    assert episode.joint_names == HAND.joint_names
    assert abs(episode.num_ticks - DURATION * 30) <= 1
    ticks = T0 + 0.002 + np.arange(episode.num_ticks) / 30
    expected = np.array([[q_true(t, j) for j in HAND.joint_names] for t in ticks])
    # Linear interpolation of 100 Hz samples of a smooth signal: well under a degree (the
    # last tick is after the last joint sample: held there, not extrapolated).
    covered = ticks <= T0 + DURATION
    assert covered.sum() >= len(ticks) - 1
    np.testing.assert_allclose(episode.joint_positions[covered], expected[covered], atol=2e-3)
    np.testing.assert_allclose(episode.command, np.array([command_true(t) for t in ticks]),
                               atol=1e-6)
    human = np.asarray(episode.intervention, bool)
    t_rel = ticks - T0
    inside = (t_rel >= HUMAN_WINDOW[0] + 0.05) & (t_rel < HUMAN_WINDOW[1] - 0.05)
    outside = (t_rel < HUMAN_WINDOW[0] - 0.05) | (t_rel >= HUMAN_WINDOW[1] + 0.05)
    assert human[inside].all() and not human[outside].any()


def test_what_cannot_be_used_is_a_named_error(tmp_path):
    bag = write_plain_recording(tmp_path / "no_thumb", fingers_topic_joints=("index", "middle"))
    with pytest.raises(BagImportError, match=r"never reports the hand's joints \['thumb'\]"):
        import_plain_bag(bag, tmp_path / "out", HAND, ImportLabels("t", ep.OUTCOME_FAILURE),
                         ImportTopics(command=COMMAND_TOPIC))
    bag = write_plain_recording(tmp_path / "short_command", command_size=4)
    with pytest.raises(BagImportError, match=r"command 0 on /hand_position_controller/commands "
                                             r"has 4 values, the hand 5 joints"):
        import_plain_bag(bag, tmp_path / "out", HAND, ImportLabels("t", ep.OUTCOME_FAILURE),
                         ImportTopics(command=COMMAND_TOPIC))
    with pytest.raises(BagImportError, match=r"no topic /hand/command"):
        import_plain_bag(bag, tmp_path / "out", HAND, ImportLabels("t", ep.OUTCOME_FAILURE))
    assert not list((tmp_path / "out").glob("*")) or not ep.load_episodes(tmp_path / "out")[0]


def test_cli_imports_a_demonstration_and_corrects_its_outcome_later(tmp_path, capsys):
    bag = write_plain_recording(tmp_path / "demo", with_intervention=False)
    hand_file = tmp_path / "my_robot.yaml"
    hand_file.write_text("/**:\n  ros__parameters:\n"
                         + "".join("    " + line + "\n" for line in HAND.parameters_yaml().splitlines()))
    assert bags_main(["import", str(bag), "--out", str(tmp_path / "demos"), "--hand", str(hand_file),
                      "--task", "cup_flip", "--outcome", "success", "--source", "human",
                      "--command-topic", COMMAND_TOPIC]) == 0
    [episode], errors = ep.load_episodes(tmp_path / "demos")
    assert not errors and np.asarray(episode.intervention, bool).all()   # a demonstration
    recorded = episode.path
    # Judged later: the cup fell after the recording stopped.
    assert bags_main(["set-outcome", str(recorded), "--outcome", "failure",
                      "--reason", "cup fell after the end"]) == 0
    again = ep.read_episode(recorded)
    assert again.outcome == ep.OUTCOME_FAILURE
    custom = read_bag_info(recorded).custom_data
    assert custom[KEY_OUTCOME_RECORDED] == str(ep.OUTCOME_SUCCESS)
    assert "success -> failure" in custom[KEY_OUTCOME_CORRECTION]
    assert "cup fell after the end" in custom[KEY_OUTCOME_CORRECTION]
    # Corrected twice: the recorded outcome stays the recorder's.
    set_episode_outcome(recorded, ep.OUTCOME_ABORTED, "operator error")
    assert read_bag_info(recorded).custom_data[KEY_OUTCOME_RECORDED] == str(ep.OUTCOME_SUCCESS)
    assert ep.read_episode(recorded).outcome == ep.OUTCOME_ABORTED
    with pytest.raises(SystemExit):
        bags_main(["set-outcome", str(tmp_path / "missing"), "--outcome", "failure"])
    assert "dexpie-bags set-outcome: error:" in capsys.readouterr().err
