"""The intervention_arbiter node in-process on real rclpy: a probe node plays the hand, the
policy server, the glove, the spacemouse and the recorder, and listens to what the arbiter
publishes. Ticks are driven one policy command at a time (lock-step), so every tick is seen."""
import numpy as np
import pytest
import rclpy
from dexpie_msgs.msg import ActionChunk, EpisodeEvent, InterventionState
from geometry_msgs.msg import Twist
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter as RosParameter
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from builtin_interfaces.msg import Time

from dexpie_common import topics
from dexpie_common.messages import joint_state_msg, stamp_to_seconds
from dexpie_common.parameters import ParameterError
from dexpie_common.testing import spin_until, wait_for_publishers, wait_for_subscribers
from dexpie_teleop import intervention_arbiter_node
from dexpie_teleop.intervention_arbiter_node import InterventionArbiterNode

ARM = ["arm_x", "arm_y", "arm_z"]
FINGERS = ["f0", "f1", "f2"]
JOINTS = ARM + FINGERS
POLICY = np.array([0.1, 0.0, 0.0, 0.2, 0.2, 0.2])
MEASURED = POLICY + np.array([0.05, -0.05, 0.0, 0.0, 0.0, 0.0])  # the arm lags its target
GLOVE = np.array([1.2, 0.9, 0.0])  # far from the policy's fingers
STEP = 0.05
PARAMS = {
    "joint_names": JOINTS, "arm_joints": ARM, "lower_limits": [-2.0] * 3 + [0.0] * 3,
    "upper_limits": [2.0] * 3 + [1.6] * 3,
    "twist_to_joint": np.hstack([np.eye(3), np.zeros((3, 3))]).ravel().tolist(),
    # Slow fallback ticks: the policy commands of the test drive every tick.
    "rate_hz": 2.0, "device_timeout": 5.0, "policy_timeout": 5.0, "button_debounce_time": 0.0,
    "blend_time": 0.0, "max_transition_step": STEP, "idle_handback_time": float("inf"),
    "glove_takeover_deviation": float("inf"), "marker_position_joints": ARM,
}
TIMEOUT = 5.0


class Probe:
    def __init__(self, context, **overrides):
        self.arbiter = InterventionArbiterNode(
            context=context, automatically_declare_parameters_from_overrides=False,
            parameter_overrides=[RosParameter(k, value=v) for k, v in {**PARAMS, **overrides}.items()])
        self.node = rclpy.create_node("probe", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.arbiter)
        self.executor.add_node(self.node)
        self.commands, self.states, self.markers = [], [], []
        make = self.node.create_publisher
        self.pubs = {"measured": make(JointState, topics.JOINT_STATES, 10),
                     "policy": make(JointState, topics.POLICY_COMMAND, 10),
                     "glove": make(JointState, topics.GLOVE_JOINT_STATES, 10),
                     "twist": make(Twist, topics.SPACENAV_TWIST, 10),
                     "joy": make(Joy, topics.SPACENAV_JOY, 10),
                     "chunk": make(ActionChunk, topics.POLICY_ACTION_CHUNK, 10),
                     "events": make(EpisodeEvent, topics.EPISODE_EVENTS, 10),
                     "estop": make(Bool, topics.HAND_CONTROLLER_ESTOP, 10)}
        subs = [self.node.create_subscription(JointState, topics.HAND_COMMAND, self.commands.append, 100),
                self.node.create_subscription(InterventionState, topics.INTERVENTION_STATE, self.states.append, 100),
                self.node.create_subscription(MarkerArray, topics.INTERVENTION_MARKERS, self.markers.append, 100)]
        for publisher in self.pubs.values():
            assert wait_for_subscribers(self.executor, publisher)
        for subscription in subs:
            assert wait_for_publishers(self.executor, subscription)

    def spin_until(self, predicate, timeout=TIMEOUT):
        return spin_until(self.executor, predicate, timeout)

    def stamp(self):
        return self.node.get_clock().now().to_msg()

    def synced(self):
        n = self.arbiter.ticks_published
        return len(self.commands) == n and len(self.states) == n

    def send(self, kind, msg, counter=None):
        """Publish and wait until the arbiter has taken it in (and what it published arrived)."""
        counter = counter or kind
        before = self.arbiter.inputs.counts[counter]
        self.pubs[kind].publish(msg)
        assert self.spin_until(lambda: self.arbiter.inputs.counts[counter] > before and self.synced())

    def measured(self, q=MEASURED):
        self.send("measured", joint_state_msg(JOINTS, q, self.stamp()))

    def devices(self, glove=GLOVE, buttons=(0, 0), axes=(0.0,) * 6):
        self.send("glove", joint_state_msg(FINGERS, glove, self.stamp()))
        twist = Twist()
        twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.x, twist.angular.y, twist.angular.z = axes
        self.send("twist", twist)
        self.send("joy", Joy(axes=[float(a) for a in axes], buttons=list(buttons)))

    def tick(self, policy=POLICY, names=JOINTS, measured=MEASURED) -> InterventionState:
        """One control tick: a policy command (which drives the tick while the policy is in
        control) and, otherwise, the /joint_states that drives it; returns the published state."""
        before = self.arbiter.ticks_published
        self.send("policy", joint_state_msg(names, policy, self.stamp()))
        if self.arbiter.ticks_published == before:
            self.send("measured", joint_state_msg(JOINTS, measured, self.stamp()))
        assert self.arbiter.ticks_published == before + 1
        return self.states[-1]

    def command(self) -> np.ndarray:
        assert self.commands[-1].name == JOINTS
        return np.array(self.commands[-1].position)

    def max_step(self) -> float:
        positions = np.array([c.position for c in self.commands])
        return float(np.abs(np.diff(positions, axis=0)).max())

    def close(self):
        self.executor.shutdown()
        self.arbiter.destroy_node()
        self.node.destroy_node()


@pytest.fixture
def probe(context):
    made = []

    def make(**overrides):
        made.append(Probe(context, **overrides))
        return made[-1]

    yield make
    for p in made:
        p.close()


def test_entry_point_is_the_node_main():
    assert callable(intervention_arbiter_node.main)


def test_policy_commands_are_forwarded_by_name_with_source_policy(probe):
    p = probe()
    p.measured()
    p.devices(glove=POLICY[3:])
    state = p.tick()
    assert (state.source, state.edge, state.reason, state.intervention_id, state.tick) == (
        InterventionState.SOURCE_POLICY, InterventionState.EDGE_NONE, InterventionState.REASON_EPISODE_BOUNDARY, 0, 0)
    np.testing.assert_allclose(p.command(), POLICY)
    shuffled = [5, 0, 4, 1, 3, 2]
    target = POLICY + 0.01
    state = p.tick(target[shuffled], [JOINTS[i] for i in shuffled])  # matched by name, not position
    np.testing.assert_allclose(p.command(), target)
    assert state.source == InterventionState.SOURCE_POLICY and state.tick == 1
    assert p.states[-1].header.stamp == p.commands[-1].header.stamp


def test_button_takes_over_without_a_jump_and_a_second_press_hands_back(probe):
    p = probe()
    p.measured()
    p.devices()
    for _ in range(3):
        p.tick()
    p.devices(buttons=(1, 0))
    state = p.tick()
    assert (state.source, state.edge, state.reason, state.intervention_id) == (
        InterventionState.SOURCE_HUMAN, InterventionState.EDGE_TAKEOVER, InterventionState.REASON_BUTTON, 1)
    np.testing.assert_allclose(p.command(), POLICY)  # the edge tick keeps the last command
    p.devices(buttons=(0, 0))
    for _ in range(30):  # the glove is 1.0 rad away: many ticks of ramp
        assert p.tick().source == InterventionState.SOURCE_HUMAN
    # Clutch: the arm starts (and, with the puck at rest, stays) at the measured pose.
    np.testing.assert_allclose(p.command(), np.concatenate([MEASURED[:3], GLOVE]))
    assert p.max_step() <= STEP + 1e-9
    p.devices(buttons=(1, 0))
    state = p.tick()
    assert (state.source, state.edge, state.reason, state.intervention_id) == (
        InterventionState.SOURCE_POLICY, InterventionState.EDGE_HANDBACK, InterventionState.REASON_BUTTON, 1)
    p.devices(buttons=(0, 0))
    for _ in range(30):
        p.tick()
    np.testing.assert_allclose(p.command(), POLICY)
    assert p.max_step() <= STEP + 1e-9


def test_simultaneous_button_edges_are_one_press(probe):
    p = probe()
    p.measured()
    p.devices()
    p.tick()
    p.devices(buttons=(1, 1))
    state = p.tick()
    assert (state.edge, state.intervention_id) == (InterventionState.EDGE_TAKEOVER, 1)
    assert p.tick().source == InterventionState.SOURCE_HUMAN  # both still held
    p.devices(buttons=(0, 0))
    assert p.tick().source == InterventionState.SOURCE_HUMAN
    p.devices(buttons=(0, 1))
    assert p.tick().edge == InterventionState.EDGE_HANDBACK


def test_a_press_between_two_ticks_is_not_lost(probe):
    p = probe()
    p.measured()
    p.devices()
    p.tick()
    p.devices(buttons=(1, 0))
    p.devices(buttons=(0, 0))  # released before the next tick
    assert p.tick().edge == InterventionState.EDGE_TAKEOVER


def test_stale_glove_during_takeover_holds(probe):
    p = probe(device_timeout=0.5)
    p.measured()
    p.devices()
    p.tick()
    p.devices(buttons=(1, 0))
    assert p.tick().source == InterventionState.SOURCE_HUMAN
    hold = []

    def glove_silent_tick():  # the spacemouse and the policy go on, the glove says nothing
        twist = Twist()
        p.send("twist", twist)
        state = p.tick()
        if state.source == InterventionState.SOURCE_SAFETY_HOLD:
            hold.append(state)
        return bool(hold)

    assert p.spin_until(glove_silent_tick)
    assert (hold[0].edge, hold[0].reason) == (InterventionState.EDGE_HOLD, InterventionState.REASON_STALE_INPUT)
    assert p.max_step() <= STEP + 1e-9


def test_human_only_mode_gives_the_episode_to_the_human_without_a_policy(probe):
    p = probe(human_only=True, rate_hz=50.0)
    p.measured()
    p.devices()
    assert p.spin_until(lambda: any(s.source == InterventionState.SOURCE_HUMAN for s in p.states))
    first = next(s for s in p.states if s.source == InterventionState.SOURCE_HUMAN)
    assert (first.edge, first.reason, first.intervention_id) == (
        InterventionState.EDGE_TAKEOVER, InterventionState.REASON_EPISODE_BOUNDARY, 1)
    p.devices(buttons=(1, 0))  # a press does not hand back
    p.devices(buttons=(0, 0))
    target = np.concatenate([MEASURED[:3], GLOVE])
    assert p.spin_until(lambda: p.synced() and np.allclose(p.command(), target))
    assert all(s.source == InterventionState.SOURCE_HUMAN for s in p.states[p.states.index(first):])
    assert p.max_step() <= STEP + 1e-9
    # A new episode starts under human control again, once the devices' readings of the new
    # episode have arrived (those from before START are not used).
    count = len(p.states)
    p.pubs["events"].publish(EpisodeEvent(event=EpisodeEvent.EVENT_START, episode_id="e2"))
    assert p.spin_until(lambda: any(s.tick == 0 for s in p.states[count:]))
    begin = next(i for i in range(count, len(p.states)) if p.states[i].tick == 0)
    p.devices()
    assert p.spin_until(lambda: any(s.source == InterventionState.SOURCE_HUMAN for s in p.states[begin:]))
    restart = next(s for s in p.states[begin:] if s.source == InterventionState.SOURCE_HUMAN)
    assert all(s.source == InterventionState.SOURCE_SAFETY_HOLD for s in p.states[begin:] if s.tick < restart.tick)
    assert (restart.edge, restart.reason, restart.intervention_id) == (
        InterventionState.EDGE_TAKEOVER, InterventionState.REASON_EPISODE_BOUNDARY, 1)


def test_stale_policy_is_detected_by_the_fallback_timer(probe):
    p = probe(rate_hz=50.0, policy_timeout=0.2)
    p.measured()
    p.devices()
    p.tick()
    assert p.spin_until(lambda: p.states[-1].source == InterventionState.SOURCE_SAFETY_HOLD)
    assert p.states[-1].reason == InterventionState.REASON_STALE_INPUT


def test_episode_start_resets_the_arbiter(probe):
    p = probe()
    p.measured()
    p.devices()
    p.tick()
    p.devices(buttons=(1, 0))
    assert p.tick().intervention_id == 1
    p.pubs["events"].publish(EpisodeEvent(event=EpisodeEvent.EVENT_START, episode_id="e1", stage="init"))
    assert p.spin_until(lambda: p.arbiter.arbiter.tick == 0)
    state = p.tick()
    assert (state.source, state.intervention_id, state.tick, state.reason) == (
        InterventionState.SOURCE_POLICY, 0, 0, InterventionState.REASON_EPISODE_BOUNDARY)


def call_reset(p):
    client = p.node.create_client(Trigger, "/intervention_arbiter/reset_estop")
    assert p.spin_until(client.service_is_ready)
    future = client.call_async(Trigger.Request())
    assert p.spin_until(future.done)
    return future.result()


def test_estop_topic_latches_a_hold_until_reset_and_a_press(probe):
    p = probe()
    p.measured()
    p.devices()
    p.tick()
    p.pubs["estop"].publish(Bool(data=True))
    assert p.spin_until(lambda: p.arbiter._estop_level)
    state = p.tick()
    assert (state.source, state.reason) == (InterventionState.SOURCE_SAFETY_HOLD, InterventionState.REASON_ESTOP)
    assert not call_reset(p).success  # still asserted
    p.pubs["estop"].publish(Bool(data=False))
    assert p.spin_until(lambda: not p.arbiter._estop_level)
    assert call_reset(p).success
    assert p.tick().source == InterventionState.SOURCE_SAFETY_HOLD  # a reset alone moves nothing
    p.devices(buttons=(1, 0))
    assert p.tick().source == InterventionState.SOURCE_HUMAN


def test_markers_show_the_source_and_the_chunk_as_a_line_strip_of_h_points(probe):
    p = probe()
    p.measured()
    p.devices()
    horizon = 8
    targets = np.tile(POLICY, (horizon, 1))
    targets[:, 0] += np.linspace(0.0, 0.07, horizon)
    p.pubs["chunk"].publish(ActionChunk(chunk_id=3, joint_names=JOINTS, horizon=horizon,
                                        targets=targets.ravel().tolist()))
    assert p.spin_until(lambda: p.arbiter.chunk is not None)
    p.tick()
    assert p.spin_until(lambda: len(p.markers) == p.arbiter.ticks_published)
    by_ns = {m.ns: m for m in p.markers[-1].markers}
    line = by_ns["policy_chunk"]
    assert line.type == Marker.LINE_STRIP and line.action == Marker.ADD and line.header.frame_id == "world"
    assert len(line.points) == horizon
    np.testing.assert_allclose([[q.x, q.y, q.z] for q in line.points], targets[:, :3])
    text = by_ns["control"]
    assert text.type == Marker.TEXT_VIEW_FACING and text.text == "POLICY"
    assert by_ns["human_target"].action == Marker.DELETE
    p.devices(buttons=(1, 0))
    p.tick()
    assert p.spin_until(lambda: len(p.markers) == p.arbiter.ticks_published)
    by_ns = {m.ns: m for m in p.markers[-1].markers}
    assert by_ns["control"].text == "HUMAN  #1" and by_ns["human_target"].action == Marker.ADD


def test_a_bad_parameter_stops_the_node_naming_it(context):
    overrides = {**PARAMS, "takeover_deflection": 1.5}
    with pytest.raises(ParameterError, match=r"'takeover_deflection' = 1.5 rejected"):
        InterventionArbiterNode(context=context, automatically_declare_parameters_from_overrides=False,
                                parameter_overrides=[RosParameter(k, value=v) for k, v in overrides.items()])
    overrides = {**PARAMS, "twist_to_joint": [1.0] * 12}
    with pytest.raises(ParameterError, match="twist_to_joint has 12 values, expected 18"):
        InterventionArbiterNode(context=context, automatically_declare_parameters_from_overrides=False,
                                parameter_overrides=[RosParameter(k, value=v) for k, v in overrides.items()])


def test_ticks_carry_the_stamp_of_their_observation(probe):
    """A tick is stamped with the observation it acts on (the policy command's stamp = its
    /joint_states), so recorder and latency benchmark line ticks up with observations; a tick
    with no newer observation gets a newer stamp of its own, so stamps never repeat."""
    p = probe()
    observed = Time(sec=1000, nanosec=5)
    p.send("measured", joint_state_msg(JOINTS, MEASURED, observed))
    p.devices(glove=POLICY[3:])
    p.send("policy", joint_state_msg(JOINTS, POLICY, observed))
    assert p.states[-1].header.stamp == observed and p.commands[-1].header.stamp == observed
    p.send("policy", joint_state_msg(JOINTS, POLICY, observed))   # same observation again
    assert stamp_to_seconds(p.states[-1].header.stamp) > stamp_to_seconds(observed)


def test_glove_readings_from_before_an_episode_start_do_not_anchor_its_rest(probe):
    """Fault session: with an operator that never moves, the arbiter took over ("device_motion")
    right after a scene reset. The simulated operator's resting glove follows the scene (it is
    re-placed when the twin resets); when START reached the arbiter before the operator's first
    reading of the new scene, the episode's glove rest was anchored on the old scene's reading
    and the unmoving glove then counted as motion away from the policy's fingers."""
    p = probe(glove_takeover_deviation=0.35)
    old_rest, new_rest = GLOVE, np.array([1.5, 1.5, 1.5])   # both far from the policy's fingers
    p.measured()
    p.devices(glove=old_rest)
    for _ in range(5):
        assert p.tick().source == InterventionState.SOURCE_POLICY   # resting: no takeover
    p.pubs["events"].publish(EpisodeEvent(event=EpisodeEvent.EVENT_START, episode_id="e2", stage="init"))
    assert p.spin_until(lambda: p.arbiter.arbiter.tick == 0)
    first = p.tick()            # the policy's first command comes before the operator's reading
    assert (first.source, first.tick) == (InterventionState.SOURCE_POLICY, 0)
    p.devices(glove=new_rest)   # the operator's resting hand, placed for the new scene
    states = [p.tick() for _ in range(8)]
    assert [s.source for s in states] == [InterventionState.SOURCE_POLICY] * 8, \
        [(s.source, s.reason, s.detail) for s in states]
    # A real move of the glove away from its rest (and from the policy's fingers) still takes over.
    p.devices(glove=np.array([0.0, 0.0, 1.5]))
    takeover = [p.tick() for _ in range(3)][-1]
    assert (takeover.source, takeover.reason) == (InterventionState.SOURCE_HUMAN,
                                                  InterventionState.REASON_DEVICE_MOTION)
