"""policy_server in-process on real rclpy: commands answer /joint_states ticks, chunks are
published with consistent fields, stale or rejected inputs and inference errors give no
command (and the node recovers), resets, start-up errors."""
import math

import numpy as np
import pytest
import rclpy
import torch
from dexpie_common import topics
from dexpie_common.messages import image_msg, joint_state_msg, stamp_to_seconds
from dexpie_common.node_main import NodeStartupError
from dexpie_common.parameters import ParameterError
from dexpie_common.testing import spin_until, wait_for_publishers, wait_for_subscribers
from dexpie_msgs.msg import ActionChunk, EpisodeEvent, InterventionState
from policy_helpers import make_episodes, make_spec
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState

from dexpie_policy.checkpoint import save_policy
from dexpie_policy.chunk_dataset import ChunkDataset
from dexpie_policy.flow import FlowMatchingPolicy
from dexpie_policy.policy_server_node import PolicyServer

SMALL = dict(hidden_size=32, num_layers=2, time_embedding_dim=16, optimality_embedding_dim=16,
             num_inference_steps=3, max_delay_steps=3)
HORIZON = 8
OBJECT_NAMES = ("goal_x", "goal_y", "goal_z")
TIMEOUT = 10.0


def _checkpoint(directory, cameras=()):
    """An untrained tiny policy (the node's plumbing does not depend on what it learned)."""
    spec = make_spec()
    dataset = ChunkDataset(make_episodes(count=2, steps=12, cameras=cameras), spec,
                           horizon=HORIZON)
    torch.manual_seed(0)
    model = FlowMatchingPolicy(dataset.policy_config(**SMALL))
    return save_policy(directory, model, dataset.stats, spec)


@pytest.fixture(scope="module")
def object_policy(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("policy") / "object")


@pytest.fixture(scope="module")
def camera_policy(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("policy") / "camera", cameras=("front",))


@pytest.fixture
def ros(context):
    """Overrides the shared `ros` fixture: this file's graphs are harnesses (closed here)."""
    executor = SingleThreadedExecutor(context=context)
    harnesses = []
    yield context, executor, harnesses
    for harness in harnesses:
        harness.close()
    executor.shutdown()


class Graph:
    """The policy server plus a test node standing in for the rest of the graph."""

    def __init__(self, ros, checkpoint, cameras=(), **parameters):
        context, self.executor, harnesses = ros
        overrides = [Parameter("checkpoint", value=str(checkpoint)),
                     Parameter("object_names", value=list(OBJECT_NAMES))]
        overrides += [Parameter(k, value=v) for k, v in parameters.items()]
        self.node = PolicyServer(context=context, parameter_overrides=overrides,
                                 automatically_declare_parameters_from_overrides=False)
        harnesses.append(self)
        self.joints = list(self.node._runner.spec.joint_names)
        # Pace the test like a robot: inference finishes before the next tick (the worker
        # thread would otherwise race an unthrottled test loop). Counting wrapper, not a mock.
        self.inferences, runner = [], self.node._runner
        original = runner.predict_chunk

        def counted(*args, **kwargs):
            try:
                return original(*args, **kwargs)
            finally:
                self.inferences.append(kwargs)
        runner.predict_chunk = counted
        # Requests counted over the whole test: the scheduler's own count restarts at a reset,
        # which would let the loop run ahead of an inference still in flight.
        self.submitted, backend = [], self.node._scheduler.inference
        submit = backend.submit

        def counted_submit(request, tick):
            self.submitted.append(request.chunk_id)
            return submit(request, tick)
        backend.submit = counted_submit
        self.io = rclpy.create_node("policy_server_test_io", context=context)
        self.joint_pub = self.io.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.object_pub = self.io.create_publisher(JointState, topics.SIM_OBJECT_STATE, 10)
        self.image_pubs = {c: self.io.create_publisher(Image, topics.camera_topic(c),
                                                       qos_profile_sensor_data) for c in cameras}
        self.event_pub = self.io.create_publisher(EpisodeEvent, topics.EPISODE_EVENTS, 10)
        self.state_pub = self.io.create_publisher(InterventionState, topics.INTERVENTION_STATE, 10)
        self.commands, self.chunks, self.sent = [], [], []
        command_sub = self.io.create_subscription(JointState, topics.POLICY_COMMAND,
                                                  self.commands.append, 10)
        chunk_sub = self.io.create_subscription(ActionChunk, topics.POLICY_ACTION_CHUNK,
                                                self.chunks.append, 10)
        self.executor.add_node(self.node)
        self.executor.add_node(self.io)
        for publisher in [self.joint_pub, self.event_pub, self.state_pub,
                          *self.image_pubs.values()] + (
                [self.object_pub] if self.node._layout.uses_object_state else []):
            assert wait_for_subscribers(self.executor, publisher, timeout=TIMEOUT)
        for subscription in (command_sub, chunk_sub):
            assert wait_for_publishers(self.executor, subscription, timeout=TIMEOUT)

    def spin_until(self, predicate):
        return spin_until(self.executor, predicate, TIMEOUT)

    def publish(self, stamp=None, object_stamp=None, image_encoding="rgb8"):
        """One control tick: object state and images, then /joint_states; returns the stamp."""
        stamp = stamp or self.node.get_clock().now().to_msg()
        q = np.linspace(-0.2, 0.2, len(self.joints)) + 0.01 * len(self.sent)
        self.sent.append((stamp_to_seconds(stamp), q))
        if self.node._layout.uses_object_state:
            msg = joint_state_msg(OBJECT_NAMES, [0.1, -0.2, 0.3], object_stamp or stamp)
            self.object_pub.publish(msg)
        for camera, publisher in self.image_pubs.items():
            frame = np.full((16, 16, 3 if image_encoding != "mono8" else 1), 90, np.uint8)
            encoded = image_msg(frame, "rgb8" if image_encoding == "yuv422" else image_encoding,
                                stamp)
            encoded.encoding = image_encoding  # an encoding the codec does not know is sent as is
            publisher.publish(encoded)
        self.joint_pub.publish(joint_state_msg(self.joints, q, stamp))
        return stamp

    def tick(self, **kwargs):
        """Publish a tick, wait until the node answered it and its outputs were received."""
        node = self.node
        before = node.ticks
        self.publish(**kwargs)
        assert self.spin_until(lambda: node.ticks > before), node.recent_problems
        assert self.spin_until(lambda: len(self.commands) == node.commands_published
                               and len(self.chunks) == node.chunks_published)
        assert self.spin_until(lambda: len(self.inferences) >= len(self.submitted))

    def close(self):
        self.node.close()
        self.node.destroy_node()
        self.io.destroy_node()


@pytest.mark.parametrize("sampler", ["auto", "torch"])
def test_commands_answer_ticks_and_chunks_are_consistent(ros, object_policy, sampler):
    published_order = list(reversed(make_spec().joint_names))
    graph = Graph(ros, object_policy, joint_names=published_order, sampler=sampler)
    assert graph.node._runner.linear_backend == ("onnxruntime" if sampler == "auto" else sampler)
    while len(graph.chunks) < 3:
        graph.tick()
        assert graph.node.ticks < 60, graph.node.recent_problems
    assert graph.node.dropped_ticks == 0 and not graph.node.recent_problems
    stamps = [s for s, _ in graph.sent]
    # The first tick has no command (nothing to execute yet); every later tick has one,
    # stamped with the /joint_states stamp it answers.
    command_stamps = [stamp_to_seconds(c.header.stamp) for c in graph.commands]
    assert command_stamps == stamps[len(stamps) - len(command_stamps):]
    assert 1 <= len(stamps) - len(command_stamps) <= 3
    assert all(list(c.name) == published_order for c in graph.commands)
    assert all(kwargs == {"object_state": kwargs["object_state"], "images": None,
                          "prefix_targets": kwargs["prefix_targets"], "optimality": 1.0,
                          "cfg_scale": 1.5} for kwargs in graph.inferences)
    np.testing.assert_array_equal(graph.inferences[0]["object_state"], [0.1, -0.2, 0.3])

    spec, order = make_spec(), [make_spec().joint_names.index(n) for n in published_order]
    for chunk in graph.chunks:
        observed = stamps.index(stamp_to_seconds(chunk.observation_stamp))
        arrived = stamps.index(stamp_to_seconds(chunk.header.stamp))
        assert chunk.delay_steps == arrived - observed >= 1 and chunk.start_index == chunk.delay_steps
        assert list(chunk.joint_names) == published_order
        np.testing.assert_allclose(chunk.anchor, graph.sent[observed][1][order])
        assert chunk.horizon == HORIZON and chunk.action_dim == spec.action_dim
        assert len(chunk.actions) == HORIZON * spec.action_dim
        targets = np.reshape(chunk.targets, (HORIZON, len(published_order)))
        assert list(chunk.group_names) == ["arm", "fingers"]
        assert list(chunk.group_representations) == ["relative_ee_pose", "relative_joint"]
        assert len(chunk.group_joint_names) == len(published_order)
        assert chunk.optimality == pytest.approx(1.0) and chunk.cfg_scale == pytest.approx(1.5)
        assert chunk.inference_latency > 0.0
        # The command of the arrival tick is the chunk's row start_index.
        command = next(c for c in graph.commands if c.header.stamp == chunk.header.stamp)
        np.testing.assert_allclose(command.position, targets[chunk.start_index])
    assert [c.chunk_id for c in graph.chunks] == list(range(len(graph.chunks)))


def test_stale_object_state_gives_no_command(ros, object_policy):
    graph = Graph(ros, object_policy)
    stamp = graph.publish(object_stamp=_shifted(graph, -1.0))
    node = graph.node
    assert graph.spin_until(lambda: node._sync.latest("object_state") is not None
                            and node._pending is not None)
    graph.publish()  # the next tick: the first one can no longer be completed
    assert graph.spin_until(lambda: node.dropped_ticks == 1)
    kind, message = node.recent_problems[-1]
    assert kind == "observation" and f"{stamp_to_seconds(stamp):.6f}" in message
    assert "object_state is 1.000 s older than the reference" in message
    assert node.ticks == 0 and graph.commands == [] and node.commands_published == 0


def test_unsupported_image_encoding_is_rejected_by_name(ros, camera_policy, capfd):
    graph = Graph(ros, camera_policy, cameras=("front",))
    node = graph.node
    graph.publish(image_encoding="yuv422")
    assert graph.spin_until(lambda: any("'yuv422'" in m for _, m in node.recent_problems))
    graph.publish(image_encoding="yuv422")
    assert graph.spin_until(lambda: node.dropped_ticks >= 1)
    assert "no message yet on image/front" in node.recent_problems[-1][1]
    assert node.ticks == 0 and graph.commands == []
    assert "image encoding 'yuv422' is not supported" in capfd.readouterr().err
    # Accepted encodings are converted to the trained RGB and the policy runs.
    while not graph.commands:
        graph.tick(image_encoding="bgr8")
        assert node.ticks < 30, node.recent_problems
    frame = graph.inferences[0]["images"]["front"]
    assert frame.shape == (16, 16, 3) and frame.dtype == np.uint8


def test_inference_error_gives_no_command_and_the_node_recovers(ros, object_policy):
    graph = Graph(ros, object_policy)
    runner, working = graph.node._runner, graph.node._runner.predict_chunk

    def broken(*args, **kwargs):
        graph.inferences.append(kwargs)
        raise RuntimeError("model exploded")

    def recover():
        runner.predict_chunk = working
        commands = len(graph.commands)
        while len(graph.commands) == commands:
            graph.tick()
            assert graph.node.ticks < 100, graph.node.recent_problems

    runner.predict_chunk = broken  # from the start: never a command
    for _ in range(4):
        graph.tick()
    assert graph.commands == [] and graph.chunks == []
    assert any("inference failed" in m and "RuntimeError: model exploded" in m
               for _, m in graph.node.recent_problems)
    recover()
    runner.predict_chunk = broken  # mid-run: the queued chunk runs out, then silence
    for _ in range(HORIZON + 2):
        graph.tick()
    commands = len(graph.commands)
    for _ in range(3):
        graph.tick()
    assert len(graph.commands) == commands and graph.node._scheduler.error_count >= 2
    recover()
    assert len(graph.chunks) == 2


def test_episode_start_and_handback_reset_the_scheduler(ros, object_policy):
    graph = Graph(ros, object_policy, condition_on_optimality=False)
    while len(graph.chunks) < 1:
        graph.tick()
    assert math.isnan(graph.chunks[0].optimality) and graph.chunks[0].cfg_scale == 1.0
    assert graph.inferences[0]["optimality"] is None
    scheduler = graph.node._scheduler
    handback = InterventionState(edge=InterventionState.EDGE_HANDBACK)
    graph.state_pub.publish(handback)
    assert graph.spin_until(lambda: scheduler.tick_count == 0)
    commands = len(graph.commands)
    graph.tick()  # from the current state: nothing to execute yet, so no command
    assert len(graph.commands) == commands
    while len(graph.commands) == commands:
        graph.tick()
    graph.tick()
    graph.event_pub.publish(EpisodeEvent(event=EpisodeEvent.EVENT_START, episode_id="e1"))
    assert graph.spin_until(lambda: scheduler.tick_count == 0)
    assert graph.node._sync.latest("joint_states") is None


def test_out_of_order_joint_states_are_ignored(ros, object_policy):
    graph = Graph(ros, object_policy)
    graph.tick()
    graph.publish(stamp=_shifted(graph, -5.0))
    assert graph.spin_until(lambda: any("is not newer than the last tick" in m
                                        for _, m in graph.node.recent_problems))
    assert graph.node.ticks == 1 and graph.node.dropped_ticks == 0


def test_missing_checkpoint_stops_the_node_naming_the_path(ros, tmp_path):
    context = ros[0]
    missing = tmp_path / "no_such_policy"
    with pytest.raises(NodeStartupError, match=f"'{missing}' does not exist"):
        PolicyServer(context=context, parameter_overrides=[Parameter("checkpoint",
                                                                     value=str(missing))],
                     automatically_declare_parameters_from_overrides=False)


@pytest.mark.parametrize("name, value, fragment", [
    ("mode", "fast", "'fast' is not one of"),
    ("cfg_scale", -2.0, "-2.0 is outside"),
    ("checkpoint", "", "'checkpoint' is required"),
    ("sampler", "mkl", "'mkl' is not one of"),
])
def test_bad_parameters_stop_the_node_naming_them(ros, object_policy, name, value, fragment):
    overrides = {"checkpoint": str(object_policy), name: value}
    with pytest.raises(ParameterError, match=fragment):
        PolicyServer(context=ros[0],
                     parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()],
                     automatically_declare_parameters_from_overrides=False)


def test_joint_names_must_match_the_checkpoint(ros, object_policy):
    with pytest.raises(NodeStartupError, match=r"missing \['THJ1'\]"):
        PolicyServer(context=ros[0], parameter_overrides=[
            Parameter("checkpoint", value=str(object_policy)),
            Parameter("joint_names", value=list(make_spec().joint_names[:-1]))],
            automatically_declare_parameters_from_overrides=False)


def _shifted(graph, seconds):
    now = graph.node.get_clock().now()
    return rclpy.time.Time(nanoseconds=now.nanoseconds + int(seconds * 1e9)).to_msg()
