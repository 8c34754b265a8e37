"""episode_recorder on a real rclpy graph (in-process, one Context per test): services, events,
the bag it writes, start-up recovery and its parameters."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter as RosParameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray

from dexpie_common import topics
from dexpie_common.messages import image_msg, joint_state_msg
from dexpie_common.node_main import NodeStartupError
from dexpie_common.parameters import ParameterError
from dexpie_common.testing import spin_until, wait_for_subscribers
import dexpie_episode as ep
from dexpie_episode.episode_recorder_node import EpisodeRecorderNode
from dexpie_episode.episode_recorder_parameters import EPISODE_RECORDER
from dexpie_episode.live_recording import NOT_READY, TICKS_LOST
from dexpie_msgs.msg import EpisodeEvent, InterventionState
from dexpie_msgs.srv import EndEpisode, StartEpisode
from episode_helpers import write_random_episode
from recorder_helpers import simulate_killed_recorder

from dexpie_common.hand import HandDescription, JointGroup

JOINTS = ["wrist", "finger"]
OBJECTS = ["obj_x", "obj_y", "obj_z"]
T0_NS = 1_700_000_000_000_000_000
DT_NS = 33_333_333
TIMEOUT = 10.0
EVENTS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)


def stamp_of(tick: int):
    t = T0_NS + tick * DT_NS
    return rclpy.time.Time(nanoseconds=t).to_msg()


HAND = HandDescription("test_hand", JOINTS, [JointGroup("arm", ["wrist"], "spacemouse", "relative_joint"),
                                          JointGroup("fingers", ["finger"], "glove", "absolute_joint")],
                       [-1.0, 0.0], [1.0, 1.5], [2.0, 5.0], 30.0, 200, object_names=OBJECTS)


def make_recorder(context, output_dir: Path, hand: HandDescription | None = HAND,
                  **overrides) -> EpisodeRecorderNode:
    values = {"output_dir": str(output_dir), "joint_names": JOINTS, "durable": False}
    if hand is not None:
        if overrides.get("record_object_state") is False:
            hand = dataclasses.replace(hand, object_names=())
        # rclpy cannot type an empty list given in code (it becomes a byte array): leave those out
        values.update({k: v for k, v in hand.to_parameters().items() if v != []})
    values.update(overrides)
    return EpisodeRecorderNode(
        context=context, parameter_overrides=[RosParameter(k, value=v) for k, v in values.items()],
        automatically_declare_parameters_from_overrides=False)


def hand_params_file(folder: Path, hand: HandDescription) -> Path:
    """A parameters file holding only the hand description, as the graph's files do."""
    path = folder / "hand_params.yaml"
    path.write_text("/**:\n  ros__parameters:\n" + textwrap.indent(hand.parameters_yaml(), "    "))
    return path


class Graph:
    """The rest of the graph, as far as the recorder sees it: publishers, clients, events."""

    def __init__(self, context, recorder: EpisodeRecorderNode | None):
        """recorder None: the recorder runs in another process."""
        self.recorder = recorder
        self.with_objects = recorder is not None and recorder.params.record_object_state
        self.node = rclpy.create_node("recorder_test_graph", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        if recorder is not None:
            self.executor.add_node(recorder)
        self.executor.add_node(self.node)
        n = self.node
        self.joint_states = n.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.object_state = n.create_publisher(JointState, topics.SIM_OBJECT_STATE, 10)
        self.policy_command = n.create_publisher(JointState, topics.POLICY_COMMAND, 10)
        self.hand_command = n.create_publisher(JointState, topics.HAND_COMMAND, 10)
        self.intervention = n.create_publisher(InterventionState, topics.INTERVENTION_STATE, 10)
        self.start_client = n.create_client(StartEpisode, topics.EPISODE_START_SERVICE)
        self.end_client = n.create_client(EndEpisode, topics.EPISODE_END_SERVICE)
        self.events: list[EpisodeEvent] = []
        n.create_subscription(EpisodeEvent, topics.EPISODE_EVENTS, self.events.append, EVENTS_QOS)

    def connect(self) -> None:
        publishers = [self.joint_states, self.policy_command, self.hand_command, self.intervention]
        if self.with_objects:
            publishers.append(self.object_state)
        for publisher in publishers:
            assert wait_for_subscribers(self.executor, publisher, timeout=TIMEOUT), publisher.topic_name
        for client in (self.start_client, self.end_client):
            assert spin_until(self.executor, client.service_is_ready, TIMEOUT), client.srv_name
        self.prime()

    def prime(self) -> None:
        """One message on every recorded stream, stamped before the tests' ticks, as a running
        graph sends them; with the recorder in-process, wait until it is ready for episodes."""
        stamp = stamp_of(-1)
        self.joint_states.publish(joint_state_msg(JOINTS, [0.0, 0.0], stamp, velocities=[0.0, 0.0]))
        self.hand_command.publish(joint_state_msg(JOINTS, [0.0, 0.0], stamp))
        state = InterventionState(source=ep.SOURCE_POLICY)
        state.header.stamp = stamp
        self.intervention.publish(state)
        if self.with_objects:
            self.object_state.publish(joint_state_msg(OBJECTS, [0.0, 0.0, 0.0], stamp))
        if self.recorder is not None:
            core = self.recorder.recorder
            assert spin_until(self.executor, lambda: core.ready, TIMEOUT), core.missing_streams()

    def start_when_ready(self, **request):
        """Start, asking again (and priming again) while the recorder says it is not ready."""
        answers = []

        def started() -> bool:
            answers.append(self.start(**request))
            if answers[-1].success or not answers[-1].message.startswith(NOT_READY):
                return True
            self.prime()
            return False
        assert spin_until(self.executor, started, TIMEOUT), answers[-1].message
        return answers[-1]

    def call(self, client, request):
        future = client.call_async(request)
        assert spin_until(self.executor, future.done, TIMEOUT), f"no answer from {client.srv_name}"
        return future.result()

    def start(self, task="relocate", stage="init", seed=5, note=""):
        request = StartEpisode.Request(task=task, stage=stage, seed=seed, note=note)
        return self.call(self.start_client, request)

    def end(self, outcome, note=""):
        return self.call(self.end_client, EndEpisode.Request(outcome=outcome, note=note))

    def tick(self, tick: int, source: int, intervention_id: int = 0, edge: int = 0) -> None:
        """Publish one control tick and wait until the recorder has taken it."""
        stamp = stamp_of(tick)
        positions = np.array([0.1 * tick, -0.2 * tick])
        streams = self.recorder.recorder.streams
        self.joint_states.publish(joint_state_msg(JOINTS, positions, stamp, velocities=positions * 2))
        self.object_state.publish(joint_state_msg(OBJECTS, [tick, 0.0, 1.0], stamp))
        if source == ep.SOURCE_POLICY:
            self.policy_command.publish(joint_state_msg(JOINTS, positions + 0.01, stamp))
        # Published in reverse name order: the recorder matches joints by name.
        self.hand_command.publish(joint_state_msg(JOINTS[::-1], (positions + 0.02)[::-1], stamp))
        expected = T0_NS + tick * DT_NS
        assert spin_until(self.executor, lambda: (
            streams.joint_state is not None and streams.joint_state.stamp_ns == expected
            and (not self.with_objects or (streams.object_values is not None
                                           and streams.object_values[0] == tick))
            and streams.commands.matching({expected}) is not None
            and (source != ep.SOURCE_POLICY or streams.policy_commands.matching({expected}) is not None)
        ), TIMEOUT)
        before = self.recorder.recorder.num_ticks
        state = InterventionState(source=source, edge=edge, intervention_id=intervention_id, tick=tick)
        state.header.stamp = stamp
        self.intervention.publish(state)
        assert spin_until(self.executor, lambda: self.recorder.recorder.num_ticks == before + 1, TIMEOUT)

    def close(self) -> None:
        self.executor.shutdown()
        if self.recorder is not None:
            self.recorder.close()
            self.recorder.destroy_node()
        self.node.destroy_node()


def test_recorded_episode_reads_back_with_flags_and_metadata(context, tmp_path: Path) -> None:
    graph = Graph(context, make_recorder(context, tmp_path))
    try:
        graph.connect()
        graph.object_state.publish(joint_state_msg(OBJECTS, [0.0, 0.0, 1.0], stamp_of(0)))
        assert spin_until(graph.executor, lambda: graph.recorder.recorder.streams.object_names != (), TIMEOUT)
        started = graph.start(task="relocate", stage="grasped", seed=17, note="rollout")
        assert started.success, started.message
        assert started.bag_path == str(tmp_path / started.episode_id)
        sources = [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]
        for tick, source in enumerate(sources):
            graph.tick(tick, source, intervention_id=int(tick >= 3), edge=int(tick in (3, 7)))
        ended = graph.end(EndEpisode.Request.OUTCOME_SUCCESS, note="ok")
        assert ended.success, ended.message
        assert (ended.episode_id, ended.bag_path, ended.num_steps) == (
            started.episode_id, started.bag_path, len(sources))
        assert spin_until(graph.executor, lambda: len(graph.events) == 2, TIMEOUT)
    finally:
        graph.close()
    start_event, end_event = graph.events
    assert (start_event.event, start_event.episode_id, start_event.task, start_event.stage,
            start_event.seed) == (EpisodeEvent.EVENT_START, started.episode_id, "relocate", "grasped", 17)
    assert (end_event.event, end_event.outcome, end_event.bag_path) == (
        EpisodeEvent.EVENT_END, EpisodeEvent.OUTCOME_SUCCESS, ended.bag_path)

    episode = ep.read_episode(ended.bag_path)
    assert (episode.task, episode.stage, episode.seed) == ("relocate", "grasped", 17)
    assert episode.outcome == ep.OUTCOME_SUCCESS and episode.note == "rollout; ok"
    assert episode.joint_names == tuple(JOINTS) and episode.object_names == tuple(OBJECTS)
    assert episode.meta.hand == HAND   # the node's hand description, in the bag's metadata
    assert episode.control_dt == pytest.approx(1 / 30) and episode.num_ticks == len(sources)
    ticks = np.arange(len(sources))
    np.testing.assert_array_equal(episode.stamp_ns, T0_NS + ticks * DT_NS)
    np.testing.assert_allclose(episode.joint_positions, np.c_[0.1 * ticks, -0.2 * ticks])
    np.testing.assert_allclose(episode.joint_velocities, 2 * episode.joint_positions)
    np.testing.assert_allclose(episode.command, episode.joint_positions + 0.02)
    np.testing.assert_array_equal(episode.object_state[:, 0], ticks)
    np.testing.assert_array_equal(episode.intervention, np.array(sources) == ep.SOURCE_HUMAN)
    np.testing.assert_array_equal(episode.intervention_id, (ticks >= 3).astype(int))
    np.testing.assert_array_equal(np.flatnonzero(episode.edge), [3, 7])
    policy = np.array(sources) == ep.SOURCE_POLICY
    assert np.isnan(episode.policy_command[~policy]).all()
    np.testing.assert_allclose(episode.policy_command[policy], episode.joint_positions[policy] + 0.01)
    loaded, errors = ep.load_episodes(tmp_path)
    assert [e.episode_id for e in loaded] == [started.episode_id] and errors == []
    # A live recording says which ROS wrote it (the pip wheels are Jazzy; a sourced install sets ROS_DISTRO).
    import os
    import yaml
    info = yaml.safe_load((Path(ended.bag_path) / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["ros_distro"] == (os.environ.get("ROS_DISTRO") or "jazzy")


def test_service_misuse_answers_false_and_keeps_the_episode(context, tmp_path: Path) -> None:
    graph = Graph(context, make_recorder(context, tmp_path, record_object_state=False))
    try:
        graph.connect()
        refused = graph.end(EndEpisode.Request.OUTCOME_SUCCESS)
        assert not refused.success and "no episode is running" in refused.message
        assert not graph.start(task="").success
        started = graph.start()
        assert started.success
        graph.tick(0, ep.SOURCE_POLICY)
        again = graph.start()
        assert not again.success and started.episode_id in again.message
        for bad in (0, 7):
            answer = graph.end(bad)
            assert not answer.success and f"outcome {bad} is not an episode label" in answer.message
        graph.tick(1, ep.SOURCE_HUMAN, intervention_id=1, edge=1)
        ended = graph.end(EndEpisode.Request.OUTCOME_FAILURE)
        assert ended.success and ended.num_steps == 2 and ended.episode_id == started.episode_id
        # An episode that never got a tick is set aside, and the answer says so.
        assert graph.start().success
        empty = graph.end(EndEpisode.Request.OUTCOME_SUCCESS)
        assert not empty.success and "set aside as incomplete" in empty.message
        assert spin_until(graph.executor, lambda: len(graph.events) == 4, TIMEOUT)
    finally:
        graph.close()
    assert [e.event for e in graph.events] == [EpisodeEvent.EVENT_START, EpisodeEvent.EVENT_END,
                                               EpisodeEvent.EVENT_START, EpisodeEvent.EVENT_INCOMPLETE]
    episode = ep.read_episode(ended.bag_path)
    assert episode.outcome == ep.OUTCOME_FAILURE and episode.intervention.tolist() == [False, True]


def test_start_up_marks_leftover_partial_incomplete_and_keeps_finished(context, tmp_path: Path) -> None:
    write_random_episode(tmp_path, "finished", num_ticks=12)
    before = {p.name: p.read_bytes() for p in (tmp_path / "finished").iterdir()}
    simulate_killed_recorder(tmp_path)
    assert (tmp_path / "killed.partial").is_dir()

    graph = Graph(context, make_recorder(context, tmp_path))
    try:  # transient-local events: a subscriber joining after start-up still hears about it
        assert spin_until(graph.executor, lambda: len(graph.events) == 1, TIMEOUT)
    finally:
        graph.close()
    event = graph.events[0]
    assert (event.event, event.episode_id, event.task, event.stage, event.seed) == (
        EpisodeEvent.EVENT_INCOMPLETE, "killed", "door", "unlatched", 11)
    assert event.bag_path == str(tmp_path / "killed.incomplete")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["finished", "killed.incomplete"]
    assert {p.name: p.read_bytes() for p in (tmp_path / "finished").iterdir()} == before
    episodes, errors = ep.load_episodes(tmp_path)
    assert [e.episode_id for e in episodes] == ["finished"]
    assert len(errors) == 1 and isinstance(errors[0], ep.IncompleteEpisodeError)


@pytest.mark.parametrize("overrides, message", [
    ({"output_dir": ""}, r"'output_dir' = '' rejected: is empty"),
    ({"joint_names": []}, r"'joint_names' = \[\] rejected: is empty"),
    ({"joint_names": ["a", "a"]}, r"'joint_names' = \['a', 'a'\] rejected: 'a' appears twice"),
    ({"tick_topic": "/hand/command"}, r"'tick_topic' = '/hand/command' rejected: .* is not one of"),
    ({"command_topic": "/cmd"}, r"'command_topic' = '/cmd' rejected"),
    ({"source_without_arbiter": "robot"}, r"'source_without_arbiter' = 'robot' rejected"),
    ({"cameras": ["front/left"]}, r"'cameras' = \['front/left'\] rejected: .*no '/'"),
    ({"max_episode_ticks": 0}, r"'max_episode_ticks' = 0 rejected: 0 is outside"),
    ({"control_rate_hz": 0.0}, r"'control_rate_hz' = 0.0 rejected"),
    ({"object_names": ["ball_x"], "record_object_state": False},
     r"'object_names' = \['ball_x'\] rejected: record_object_state is false"),
])
def test_parameter_schema_rejects_bad_values_naming_them(overrides, message) -> None:
    values = {"output_dir": "/tmp/episodes", "joint_names": ["a", "b"], **overrides}
    with pytest.raises(ParameterError, match=message):
        EPISODE_RECORDER.validate(values)


def test_node_refuses_to_start_on_a_bad_parameter(context, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"episode_recorder: parameter 'output_dir' = '' rejected"):
        make_recorder(context, "")
    with pytest.raises(ParameterError, match=r"'tick_topic' = '/clock' rejected"):
        make_recorder(context, tmp_path, tick_topic="/clock")
    with pytest.raises(ParameterError, match=r"episode_recorder: parameter 'hand.joint_names' is "
                       r"empty: the hand description is required"):
        make_recorder(context, tmp_path, hand=None)
    with pytest.raises(ParameterError, match=r"hand group 'fingers': device 'mouse' is not one of"):
        make_recorder(context, tmp_path, **{"hand.groups.fingers.device": "mouse"})
    with pytest.raises(NodeStartupError, match=r"hand.joint_names \['wrist', 'finger'\] differ from "
                       r"joint_names \['finger', 'wrist'\]"):
        make_recorder(context, tmp_path, joint_names=["finger", "wrist"])
    defaults = EPISODE_RECORDER.validate({"output_dir": str(tmp_path), "joint_names": JOINTS})
    assert defaults.tick_topic == "/intervention/state" and defaults.command_topic == "/hand/command"


def test_sigkill_mid_episode_leaves_it_marked_incomplete_after_restart(context, tmp_path: Path) -> None:
    """A real recorder process killed mid-episode; the next one sets the episode aside."""
    folder = tmp_path / "episodes"
    write_random_episode(folder, "finished", num_ticks=8)
    before = {p.name: p.read_bytes() for p in (folder / "finished").iterdir()}
    log = (tmp_path / "recorder.log").open("w")
    child = subprocess.Popen(
        [sys.executable, "-m", "dexpie_episode.episode_recorder_node", "--ros-args",
         "-p", f"output_dir:={folder}", "-p", f"joint_names:=[{', '.join(JOINTS)}]",
         "-p", "record_object_state:=false", "-p", "durable:=false",
         "--params-file", str(hand_params_file(tmp_path, dataclasses.replace(HAND, object_names=())))],
        stdout=log, stderr=subprocess.STDOUT)
    graph = Graph(context, None)
    try:
        graph.connect()
        started = graph.start_when_ready(task="hammer", stage="grasped", seed=3)
        assert started.success, started.message
        for tick in range(5):
            stamp = stamp_of(tick)
            graph.joint_states.publish(joint_state_msg(JOINTS, [tick, 0.0], stamp, velocities=[0.0, 0.0]))
            graph.hand_command.publish(joint_state_msg(JOINTS, [tick, 0.0], stamp))
            state = InterventionState(source=ep.SOURCE_POLICY)
            state.header.stamp = stamp
            graph.intervention.publish(state)
        assert spin_until(graph.executor, lambda: len(graph.events) == 1, TIMEOUT)
        assert (folder / f"{started.episode_id}.partial").is_dir()
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=TIMEOUT) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait(timeout=TIMEOUT)
        log.close()
        graph.close()
    assert graph.events[0].event == EpisodeEvent.EVENT_START

    restarted = Graph(context, make_recorder(context, folder))
    try:
        assert spin_until(restarted.executor, lambda: len(restarted.events) == 1, TIMEOUT)
    finally:
        restarted.close()
    event = restarted.events[0]
    assert (event.event, event.episode_id, event.task, event.stage, event.seed) == (
        EpisodeEvent.EVENT_INCOMPLETE, started.episode_id, "hammer", "grasped", 3)
    assert {p.name for p in folder.iterdir()} == {"finished", f"{started.episode_id}.incomplete"}
    assert {p.name: p.read_bytes() for p in (folder / "finished").iterdir()} == before
    episodes, errors = ep.load_episodes(folder)
    assert [e.episode_id for e in episodes] == ["finished"] and len(errors) == 1


def test_without_arbiter_joint_states_tick_with_camera_and_controller_commands(context, tmp_path):
    recorder = make_recorder(context, tmp_path, tick_topic=topics.JOINT_STATES, cameras=["front"],
                             command_topic=topics.HAND_CONTROLLER_COMMANDS,
                             source_without_arbiter="human", record_object_state=False)
    graph = Graph(context, recorder)
    images = graph.node.create_publisher(Image, topics.camera_topic("front"), 10)
    controller = graph.node.create_publisher(Float64MultiArray, topics.HAND_CONTROLLER_COMMANDS, 10)
    core = recorder.recorder
    try:
        for publisher in (graph.joint_states, images, controller):
            assert wait_for_subscribers(graph.executor, publisher, timeout=TIMEOUT), publisher.topic_name
        assert spin_until(graph.executor, graph.start_client.service_is_ready, TIMEOUT)
        refused = graph.start(task="door", stage="init", seed=2)
        assert not refused.success and refused.message.startswith(
            f"{NOT_READY}: nothing received yet on /joint_states, /hand_position_controller/commands, "
            f"/camera/front/image_raw;"), refused.message
        images.publish(image_msg(np.zeros((2, 3, 3), dtype=np.uint8), "bgr8", stamp_of(-1), "front"))
        controller.publish(Float64MultiArray(data=[0.0, 0.0]))
        graph.joint_states.publish(joint_state_msg(JOINTS, [0.0, 0.0], stamp_of(-1), [0.0, 0.0]))
        assert spin_until(graph.executor, lambda: core.ready, TIMEOUT), core.missing_streams()
        assert graph.start(task="door", stage="init", seed=2).success
        for tick in range(3):
            bgr = np.zeros((2, 3, 3), dtype=np.uint8)
            bgr[..., 0] = tick  # blue channel
            images.publish(image_msg(bgr, "bgr8", stamp_of(tick), "front"))
            assert spin_until(graph.executor, lambda: "front" in core.streams.images
                              and core.streams.images["front"][0, 0, 2] == tick, TIMEOUT)
            graph.joint_states.publish(joint_state_msg(JOINTS, [tick, tick], stamp_of(tick), [0.0, 0.0]))
            assert spin_until(graph.executor, lambda: core.num_ticks == tick + 1, TIMEOUT)
            controller.publish(Float64MultiArray(data=[tick + 0.5, -1.0]))
            assert spin_until(graph.executor, lambda: core.streams.commands.latest() is not None
                              and core.streams.commands.latest()[0] == tick + 0.5, TIMEOUT)
        ended = graph.end(EndEpisode.Request.OUTCOME_SUCCESS)
        assert ended.success and ended.num_steps == 3, ended.message
    finally:
        graph.close()
    episode = ep.read_episode(ended.bag_path)
    assert episode.intervention.all() and episode.edge.tolist() == [ep.EDGE_TAKEOVER, 0, 0]
    np.testing.assert_array_equal(episode.command, [[t + 0.5, -1.0] for t in range(3)])
    np.testing.assert_array_equal(episode.images["front"][:, 0, 0], [[0, 0, t] for t in range(3)])
    assert episode.policy_command is None and episode.meta.cameras == ("front",)


def test_start_is_deferred_until_the_streams_arrive_and_lost_ticks_set_the_episode_aside(
        context, tmp_path: Path) -> None:
    """Fault session: episodes started right after the recorder came up lost their first
    ticks (the /hand/command subscription had not matched yet) and one was published as
    complete with half its ticks. Now the start waits for every stream, and an episode whose
    ticks had no command is set aside, saying so."""
    graph = Graph(context, make_recorder(context, tmp_path, record_object_state=False))
    core = graph.recorder.recorder
    try:
        for client in (graph.start_client, graph.end_client):
            assert spin_until(graph.executor, client.service_is_ready, TIMEOUT), client.srv_name
        for publisher in (graph.joint_states, graph.intervention):
            assert wait_for_subscribers(graph.executor, publisher, timeout=TIMEOUT), publisher.topic_name
        stamp = stamp_of(-1)
        graph.joint_states.publish(joint_state_msg(JOINTS, [0.0, 0.0], stamp, velocities=[0.0, 0.0]))
        state = InterventionState(source=ep.SOURCE_POLICY)
        state.header.stamp = stamp
        graph.intervention.publish(state)
        assert spin_until(graph.executor, lambda: core.missing_streams() == [topics.HAND_COMMAND], TIMEOUT)
        refused = graph.start()
        assert not refused.success and refused.message.startswith(
            f"{NOT_READY}: nothing received yet on /hand/command;"), refused.message
        assert list(tmp_path.iterdir()) == [] and graph.events == []
        graph.prime()
        started = graph.start()
        assert started.success, started.message
        for tick in range(3):   # the arbiter ticks, its commands do not reach the recorder
            stamp = stamp_of(tick)
            graph.joint_states.publish(joint_state_msg(JOINTS, [tick, 0.0], stamp, velocities=[0.0, 0.0]))
            assert spin_until(graph.executor, lambda: core.streams.joint_state.stamp_ns == T0_NS + tick * DT_NS,
                              TIMEOUT)
            state = InterventionState(source=ep.SOURCE_POLICY, tick=tick)
            state.header.stamp = stamp
            graph.intervention.publish(state)
            assert spin_until(graph.executor, lambda: core.num_ticks + sum(core.lost.values()) == tick + 1,
                              TIMEOUT)
        for tick in range(3, 6):
            graph.tick(tick, ep.SOURCE_POLICY)
        ended = graph.end(EndEpisode.Request.OUTCOME_SUCCESS)
        assert spin_until(graph.executor, lambda: len(graph.events) == 2, TIMEOUT)
    finally:
        graph.close()
    assert not ended.success and ended.bag_path.endswith(".incomplete"), ended.message
    # Ticks 0 and 1 are lost; tick 2, completed when tick 3 arrives, takes the latest command
    # (tick 3's), as a tick whose command is late does.
    assert f"{TICKS_LOST}: 2 of its 6 control ticks were not recorded" in ended.message
    assert [e.event for e in graph.events] == [EpisodeEvent.EVENT_START, EpisodeEvent.EVENT_INCOMPLETE]
    assert TICKS_LOST in graph.events[1].detail
    assert ep.load_episodes(tmp_path)[0] == []
