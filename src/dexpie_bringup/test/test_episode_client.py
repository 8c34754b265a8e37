"""EpisodeClient (`dexpie-episodes`) against a real episode_recorder node (in-process, one
Context): it waits for a recorder that is not ready yet instead of failing, and an episode
the recorder sets aside is reported as such (EpisodeSetAside, with the recorder's reason), and
a recorder that dies is an error at once (ServiceGone), not after a service timeout."""
from __future__ import annotations

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter as RosParameter
from sensor_msgs.msg import JointState

from dexpie_bringup.episodes import EpisodeClient, EpisodeSetAside, GraphNotReady, ServiceGone
from dexpie_common import topics
from dexpie_common.hand import HandDescription, JointGroup
from dexpie_common.messages import joint_state_msg
from dexpie_episode.episode_recorder_node import EpisodeRecorderNode
from dexpie_episode.live_recording import NOT_READY
from dexpie_msgs.msg import EpisodeEvent, InterventionState

JOINTS = ["wrist", "finger"]
HAND = HandDescription("test_hand", JOINTS, [JointGroup("arm", ["wrist"], "spacemouse", "relative_joint"),
                                          JointGroup("fingers", ["finger"], "glove", "absolute_joint")],
                       [-1.0, 0.0], [1.0, 1.5], [2.0, 5.0], 30.0, 200)
TIMEOUT = 20.0


@pytest.fixture
def ros():
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    values = {"output_dir": None, "joint_names": JOINTS, "durable": False, "record_object_state": False}
    values.update({k: v for k, v in HAND.to_parameters().items() if v != []})

    def recorder(output_dir):
        values["output_dir"] = str(output_dir)
        node = EpisodeRecorderNode(context=context, automatically_declare_parameters_from_overrides=False,
                                   parameter_overrides=[RosParameter(k, value=v) for k, v in values.items()])
        executor.add_node(node)
        return node

    nodes = []
    yield context, executor, recorder, nodes
    executor.shutdown()
    for node in nodes:
        node.destroy_node()
    rclpy.shutdown(context=context)


class Streams:
    """The graph's streams as the recorder sees them, published on a timer once `on` is set."""

    def __init__(self, node):
        self.on = False
        self.tick = 0
        self.joint_states = node.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.command = node.create_publisher(JointState, topics.HAND_COMMAND, 10)
        self.state = node.create_publisher(InterventionState, topics.INTERVENTION_STATE, 10)
        node.create_timer(0.02, self._publish)
        # Like the arbiter: its tick count restarts when it sees an episode START.
        node.create_subscription(EpisodeEvent, topics.EPISODE_EVENTS, self._on_event, 10)
        self.clock = node.get_clock()

    def _on_event(self, msg):
        if msg.event == EpisodeEvent.EVENT_START:
            self.tick = 0

    def _publish(self):
        if not self.on:
            return
        stamp = self.clock.now().to_msg()
        q = np.array([0.01 * self.tick, 0.0])
        self.joint_states.publish(joint_state_msg(JOINTS, q, stamp, velocities=np.zeros(2)))
        self.command.publish(joint_state_msg(JOINTS, q, stamp))
        state = InterventionState(source=0, tick=self.tick)
        state.header.stamp = stamp
        self.state.publish(state)
        self.tick += 1


def test_client_waits_for_a_recorder_that_has_not_received_its_streams(ros, tmp_path):
    context, executor, make_recorder, nodes = ros
    recorder = make_recorder(tmp_path)
    node = rclpy.create_node("episode_client_test", context=context)
    nodes += [recorder, node]
    executor.add_node(node)
    streams = Streams(node)
    answers = []
    start = recorder.recorder.start

    def start_and_count(*args):
        try:
            return start(*args)
        finally:
            answers.append(recorder.recorder.ready)
            streams.on = True   # the graph comes up only after the first (refused) start
    recorder.recorder.start = start_and_count

    client = EpisodeClient(node, executor)
    said = []
    started = client.start_episode("relocate", "init", 4, ready_timeout=TIMEOUT, say=said.append)
    assert started.success and started.episode_id, started.message
    assert answers[0] is False and answers[-1] is True, answers
    assert len(said) == 1 and said[0].startswith(f"waiting for the recorder: {NOT_READY}: "
                                                 f"nothing received yet on /intervention/state, "
                                                 f"/joint_states, /hand/command;"), said
    client.spin_until(lambda: recorder.recorder.num_ticks >= 3, TIMEOUT, "three recorded ticks")
    ended = client.end_episode(1)
    assert ended.success and ended.num_steps >= 3, ended.message


def test_client_gives_up_on_a_recorder_that_never_gets_ready_naming_the_streams(ros, tmp_path):
    context, executor, make_recorder, nodes = ros
    recorder = make_recorder(tmp_path)
    node = rclpy.create_node("episode_client_test", context=context)
    nodes += [recorder, node]
    executor.add_node(node)
    client = EpisodeClient(node, executor)
    with pytest.raises(GraphNotReady, match=r"still not ready after 1 s: recorder not ready: nothing "
                                            r"received yet on /intervention/state"):
        client.start_episode("relocate", "init", 4, ready_timeout=1.0)


def test_an_episode_set_aside_by_the_recorder_is_reported_with_its_reason(ros, tmp_path):
    context, executor, make_recorder, nodes = ros
    recorder = make_recorder(tmp_path)
    node = rclpy.create_node("episode_client_test", context=context)
    nodes += [recorder, node]
    executor.add_node(node)
    streams = Streams(node)
    client = EpisodeClient(node, executor)
    streams.on = True
    client.spin_until(lambda: recorder.recorder.ready, TIMEOUT, "the recorder to be ready")
    streams.on = False      # the graph stops ticking: the episode gets no tick at all
    client.start_episode("relocate", "init", 4, ready_timeout=TIMEOUT)
    with pytest.raises(EpisodeSetAside, match=r"^/episode/end: episode .* has no control ticks; "
                                              r"set aside as incomplete") as error:
        client.end_episode(1)
    assert error.value.bag_path.endswith(".incomplete")


def kill(executor, nodes, recorder):
    """The recorder process dies: its node and services leave the graph."""
    executor.remove_node(recorder)
    nodes.remove(recorder)
    recorder.close()
    recorder.destroy_node()


def test_a_recorder_that_died_between_calls_is_reported_at_once(ros, tmp_path):
    context, executor, make_recorder, nodes = ros
    recorder = make_recorder(tmp_path)
    node = rclpy.create_node("episode_client_test", context=context)
    nodes += [recorder, node]
    executor.add_node(node)
    streams = Streams(node)
    client = EpisodeClient(node, executor)
    streams.on = True
    client.spin_until(lambda: recorder.recorder.ready, TIMEOUT, "the recorder to be ready")
    client.start_episode("relocate", "init", 4, ready_timeout=TIMEOUT)
    kill(executor, nodes, recorder)
    # The default 30 s service timeout would end in GraphNotReady; the node is known gone.
    with pytest.raises(ServiceGone, match=r"^/episode/end: the service is gone from the ROS graph "
                                          r"\(the episode_recorder node stopped or crashed\)$"):
        client.end_episode(1)


def test_a_recorder_that_dies_during_an_episode_ends_the_run_at_once(ros, tmp_path):
    context, executor, make_recorder, nodes = ros
    recorder = make_recorder(tmp_path)
    node = rclpy.create_node("episode_client_test", context=context)
    nodes += [recorder, node]
    executor.add_node(node)
    streams = Streams(node)
    client = EpisodeClient(node, executor)
    streams.on = True
    client.spin_until(lambda: recorder.recorder.ready, TIMEOUT, "the recorder to be ready")
    started = []

    def die_after_three_ticks():
        if recorder in nodes and recorder.recorder.num_ticks >= 3:
            started.append(True)
            kill(executor, nodes, recorder)
    node.create_timer(0.02, die_after_three_ticks)
    # No twin (sim=False): nothing would end this episode before its 120 s timeout.
    with pytest.raises(ServiceGone, match="the episode_recorder node stopped or crashed"):
        client.run_episode("relocate", "init", 4, max_ticks=300, sim=False, ready_timeout=TIMEOUT)
    assert started == [True]
