"""The hand_controller node in-process on real rclpy: a probe node publishes joint states,
commands and e-stops, and listens to the controller topic and the holding flag."""
import math

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter as RosParameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger

from dexpie_common import topics
from dexpie_common.messages import joint_state_msg
from dexpie_common.parameters import ParameterError
from dexpie_common.testing import spin_until, wait_for_publishers, wait_for_subscribers
from dexpie_control import hand_controller_node
from dexpie_control.hand_controller_node import LATCHED, HandController
from dexpie_control.safety import HoldReason

NAMES = ["a", "b", "c"]
LOWER, UPPER = [-1.0, 0.0, -0.5], [1.0, 1.6, 0.5]
PARAMS = {"joint_names": NAMES, "lower_limits": LOWER, "upper_limits": UPPER,
          "max_velocity": [100.0, 100.0, 100.0], "rate_hz": 50.0, "watchdog_timeout": 0.15}
TIMEOUT = 5.0


class Probe:
    """Everything around the controller: sim/robot, arbiter, operator."""

    def __init__(self, context, **overrides):
        self.controller = HandController(
            context=context, automatically_declare_parameters_from_overrides=False,
            parameter_overrides=[RosParameter(k, value=v) for k, v in {**PARAMS, **overrides}.items()])
        self.node = rclpy.create_node("probe", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.controller)
        self.executor.add_node(self.node)
        self.outputs, self.holding = [], []
        self.joint_states = self.node.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.command = self.node.create_publisher(JointState, topics.HAND_COMMAND, 10)
        self.estop_topic = self.node.create_publisher(Bool, topics.HAND_CONTROLLER_ESTOP, 10)
        self.output_sub = self.node.create_subscription(
            Float64MultiArray, topics.HAND_CONTROLLER_COMMANDS,
            lambda msg: self.outputs.append(np.array(msg.data)), 100)
        self.holding_sub = self.node.create_subscription(
            Bool, topics.HAND_CONTROLLER_HOLDING, lambda msg: self.holding.append(msg.data), LATCHED)
        for publisher in (self.joint_states, self.command, self.estop_topic):
            assert wait_for_subscribers(self.executor, publisher)
        for subscription in (self.output_sub, self.holding_sub):
            assert wait_for_publishers(self.executor, subscription)

    def spin_until(self, predicate, timeout=TIMEOUT):
        return spin_until(self.executor, predicate, timeout)

    def start(self, measured=(0.0, 0.0, 0.0), names=NAMES):
        self.joint_states.publish(joint_state_msg(names, measured, self.node.get_clock().now().to_msg()))
        assert self.spin_until(lambda: self.holding == [True] and len(self.outputs) > 0)

    def send(self, names, positions):
        self.command.publish(joint_state_msg(names, positions, self.node.get_clock().now().to_msg()))

    def reach(self, target, timeout=TIMEOUT):
        return self.spin_until(lambda: bool(self.outputs) and np.allclose(self.outputs[-1], target), timeout)

    def call(self, service):
        client = self.node.create_client(Trigger, service)
        assert self.spin_until(client.service_is_ready)
        future = client.call_async(Trigger.Request())
        assert self.spin_until(future.done)
        return future.result()

    def close(self):
        self.executor.shutdown()
        self.controller.destroy_node()
        self.node.destroy_node()


@pytest.fixture
def probe(context):
    probe = Probe(context)
    yield probe
    probe.close()


def test_nothing_is_published_before_the_first_joint_states(probe):
    probe.send(NAMES, [0.1, 0.2, 0.3])
    # Ten control periods: long enough for the timer to publish if it wrongly did.
    assert not probe.spin_until(lambda: probe.outputs or probe.holding, timeout=0.2)
    probe.start(measured=(0.3, 0.4, 0.1))
    np.testing.assert_allclose(probe.outputs[0], [0.3, 0.4, 0.1])  # holds the measured position


def test_joint_states_missing_a_joint_do_not_start_the_controller(probe):
    probe.joint_states.publish(joint_state_msg(["a", "b"], [0.0, 0.0], probe.node.get_clock().now().to_msg()))
    probe.start(measured=(0.3, 0.1, 0.2, 9.0), names=["c", "b", "a", "extra"])  # matched by name
    np.testing.assert_allclose(probe.outputs[0], [0.2, 0.1, 0.3])


def test_command_comes_out_in_parameter_order(probe):
    probe.start()
    probe.send(["c", "a", "b"], [0.3, 0.1, 0.2])
    assert probe.reach([0.1, 0.2, 0.3])
    # The flag is its own topic: it can arrive after the output (or the service reply).
    assert probe.spin_until(lambda: probe.holding == [True, False])


def test_out_of_limit_command_is_clipped(probe):
    probe.start()
    probe.send(NAMES, [5.0, -3.0, 0.2])
    assert probe.reach([1.0, 0.0, 0.2])
    assert all(np.all(out >= LOWER) and np.all(out <= UPPER) for out in probe.outputs)


def test_too_fast_command_moves_at_most_max_velocity_times_dt_per_tick(context):
    probe = Probe(context, max_velocity=[1.0, 1.0, 0.5], watchdog_timeout=1.0)
    try:
        probe.start()
        before = len(probe.outputs)
        probe.send(NAMES, [1.0, 1.0, 0.5])
        assert probe.spin_until(lambda: probe.outputs[-1][0] >= 0.2)  # ten ticks or more
        limit = np.array([1.0, 1.0, 0.5]) * 0.02  # max_velocity * dt, dt = 1 / 50 Hz
        steps = np.abs(np.diff(np.vstack(probe.outputs[before - 1:]), axis=0))
        assert np.all(steps <= limit + 1e-9), steps.max(axis=0)
        assert len(probe.outputs) - before >= 10
    finally:
        probe.close()


@pytest.mark.parametrize("names,positions", [
    (NAMES, [0.5, math.nan, 0.5]),
    (NAMES, [0.5, 0.5, math.inf]),
    (NAMES, [-math.inf, 0.5, 0.5]),
    (["a", "b"], [0.5, 0.5]),
    (["a", "b", "c", "x"], [0.5, 0.5, 0.5, 0.5]),
    (NAMES, []),
])
def test_bad_commands_are_not_forwarded(probe, names, positions):
    probe.start()
    probe.send(NAMES, [0.1, 0.2, 0.3])
    assert probe.reach([0.1, 0.2, 0.3])
    after_good = len(probe.outputs)
    probe.send(names, positions)
    probe.send(NAMES, [0.2, 0.3, 0.4])  # arrives after the bad one (same reliable publisher)
    assert probe.reach([0.2, 0.3, 0.4])
    assert probe.controller.filter.rejected_count == 1
    # Every output is on the way from the first good target to the second (the rate limit
    # allows max_velocity x the time since the last tick, which on a busy machine can be a
    # fraction of a period): nothing of the bad command shows.
    old, new = np.array([0.1, 0.2, 0.3]), np.array([0.2, 0.3, 0.4])
    for out in probe.outputs[after_good:]:
        assert np.all(np.isfinite(out))
        fraction = (out - old) / (new - old)
        assert np.allclose(fraction, fraction[0], atol=1e-9) and -1e-9 <= fraction[0] <= 1 + 1e-9, out


def test_watchdog_holds_the_last_safe_position_and_a_fresh_command_resumes(probe):
    probe.start()
    probe.send(NAMES, [0.1, 0.2, 0.3])
    assert probe.spin_until(lambda: probe.holding == [True, False])
    assert probe.spin_until(lambda: probe.holding == [True, False, True])  # 0.15 s without a command
    assert probe.controller.hold_status.reason is HoldReason.STALE_COMMAND
    held = len(probe.outputs)
    assert probe.spin_until(lambda: len(probe.outputs) >= held + 3)  # keeps publishing at the rate
    for out in probe.outputs[held - 1:]:
        np.testing.assert_allclose(out, [0.1, 0.2, 0.3])
    probe.send(NAMES, [0.2, 0.2, 0.3])
    assert probe.spin_until(lambda: probe.holding == [True, False, True, False])
    assert probe.reach([0.2, 0.2, 0.3])


def test_estop_service_latches_until_reset(context):
    probe = Probe(context, watchdog_timeout=2.0)
    try:
        probe.start()
        probe.send(NAMES, [0.1, 0.2, 0.3])
        assert probe.reach([0.1, 0.2, 0.3])
        response = probe.call(topics.HAND_CONTROLLER_ESTOP_SERVICE)
        assert response.success and "latched" in response.message
        # The flag is its own topic: it can arrive after the output (or the service reply).
        assert probe.spin_until(lambda: probe.holding == [True, False, True])
        assert probe.controller.hold_status.reason is HoldReason.ESTOP
        latched_at = len(probe.outputs)
        seen = probe.controller.filter.last_command_time
        probe.send(NAMES, [0.5, 0.5, 0.5])
        assert probe.spin_until(lambda: probe.controller.filter.last_command_time != seen)
        assert probe.spin_until(lambda: len(probe.outputs) >= latched_at + 3)
        for out in probe.outputs[latched_at - 1:]:
            np.testing.assert_allclose(out, [0.1, 0.2, 0.3])  # commands ignored
        response = probe.call(topics.HAND_CONTROLLER_RESET_ESTOP_SERVICE)
        assert response.success and "released" in response.message
        assert probe.controller.hold_status.reason is HoldReason.NO_COMMAND_YET  # still holding
        probe.send(NAMES, [0.5, 0.5, 0.5])
        assert probe.reach([0.5, 0.5, 0.5])
        # The flag is its own topic: it can arrive after the output (or the service reply).
        assert probe.spin_until(lambda: probe.holding == [True, False, True, False])
    finally:
        probe.close()


def test_estop_topic_true_latches_and_false_does_not_release(context):
    probe = Probe(context, watchdog_timeout=2.0)
    try:
        probe.start()
        probe.send(NAMES, [0.1, 0.2, 0.3])
        assert probe.spin_until(lambda: probe.holding == [True, False])
        probe.estop_topic.publish(Bool(data=True))
        assert probe.spin_until(lambda: probe.holding == [True, False, True])
        probe.estop_topic.publish(Bool(data=False))
        probe.send(NAMES, [0.1, 0.2, 0.3])
        seen = probe.controller.filter.last_command_time
        assert probe.spin_until(lambda: probe.controller.filter.last_command_time != seen)
        assert probe.controller.filter.estopped and probe.holding[-1] is True
    finally:
        probe.close()


def test_node_refuses_bad_parameters_naming_them(context):
    with pytest.raises(ParameterError, match=r"joint\(s\) 'b' \(lower 2.0 >= upper 1.6\)"):
        HandController(context=context, automatically_declare_parameters_from_overrides=False,
                       parameter_overrides=[RosParameter(k, value=v) for k, v in
                                            {**PARAMS, "lower_limits": [-1.0, 2.0, -0.5]}.items()])
    with pytest.raises(ParameterError, match=r"equal lengths.*'max_velocity': 2"):
        HandController(context=context, automatically_declare_parameters_from_overrides=False,
                       parameter_overrides=[RosParameter(k, value=v) for k, v in
                                            {**PARAMS, "max_velocity": [1.0, 1.0]}.items()])


def test_entry_point_exits_2_naming_the_missing_parameter(capsys):
    with pytest.raises(SystemExit) as exit_info:
        hand_controller_node.main(args=["--ros-args", "-p", "rate_hz:=50.0"])
    assert exit_info.value.code == 2
    assert "'joint_names' = [] rejected: is empty" in capsys.readouterr().err
