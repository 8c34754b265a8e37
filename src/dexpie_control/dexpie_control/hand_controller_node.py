"""Node `hand_controller`: the last gate before the hand (ROS wiring of `safety.SafetyFilter`).

/hand/command (JointState, matched by name) -> SafetyFilter -> /hand_position_controller/commands
(Float64MultiArray in `joint_names` order, for a ros2_control forward_command_controller or
sim_hand). Each accepted command is forwarded at once (the control loop is a chain of
callbacks); a timer at `rate_hz` runs the watchdog and keeps publishing the hold position.
Nothing is published before the first /joint_states message: the hold position is the
measured one.
"""
from __future__ import annotations

import sys

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger

from dexpie_common import topics
from dexpie_common.messages import MissingJoints, doubles, positions_by_name
from dexpie_common.node_main import run_node
from dexpie_common.ros_parameters import declare_parameters

from dexpie_control.hand_controller_parameters import NODE_NAME, SCHEMA, joint_limits
from dexpie_control.hold_status import HoldStatus
from dexpie_control.safety import CommandRejected, SafetyFilter, TickOutput

# Late subscribers (RViz, the recorder) must learn the current holding state at once.
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                     reliability=ReliabilityPolicy.RELIABLE)


class HandController(Node):
    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        self.params = declare_parameters(self, SCHEMA)
        self.dt = 1.0 / self.params.rate_hz
        self.filter = SafetyFilter(joint_limits(self.params), self.dt, self.params.watchdog_timeout)
        self.hold_status = HoldStatus(self.params.watchdog_timeout)
        self.started = False
        # rclpy throttles per call site, so each reason below keeps its own budget of lines.
        self.log_period = self.params.reject_log_period
        self._last_tick_time: float | None = None

        self._controller_out = Float64MultiArray()     # refilled on every tick
        self.controller_pub = self.create_publisher(Float64MultiArray, topics.HAND_CONTROLLER_COMMANDS, 10)
        self.holding_pub = self.create_publisher(Bool, topics.HAND_CONTROLLER_HOLDING, LATCHED)
        # Best effort matches both reliable and best-effort joint state publishers.
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joint_states,
                                 qos_profile_sensor_data)
        self.create_subscription(JointState, topics.HAND_COMMAND, self._on_command, 10)
        self.create_subscription(Bool, topics.HAND_CONTROLLER_ESTOP, self._on_estop_topic, 10)
        self.create_service(Trigger, topics.HAND_CONTROLLER_ESTOP_SERVICE, self._on_estop_service)
        self.create_service(Trigger, topics.HAND_CONTROLLER_RESET_ESTOP_SERVICE, self._on_reset_estop_service)
        self.create_timer(self.dt, self._on_timer)
        self.get_logger().info(
            f"{len(self.params.joint_names)} joints at {self.params.rate_hz} Hz, watchdog "
            f"{self.params.watchdog_timeout} s; waiting for {topics.JOINT_STATES} before publishing")

    # ---- inputs ---------------------------------------------------------------------------
    def _on_joint_states(self, msg: JointState) -> None:
        if self.started:
            return
        try:
            measured = positions_by_name(msg, self.params.joint_names)
            self.filter.start(measured)
        except (MissingJoints, CommandRejected, ValueError) as error:
            self.get_logger().warning(f"cannot start from {topics.JOINT_STATES}: {error}",
                                      throttle_duration_sec=self.log_period)
            return
        self.started = True
        self.get_logger().info(f"started: holding the measured position {np.round(measured, 4).tolist()}")
        self._tick_and_publish()

    def _on_command(self, msg: JointState) -> None:
        if not self.started:
            self.get_logger().warning(f"{topics.HAND_COMMAND} ignored: no {topics.JOINT_STATES} received yet",
                                      throttle_duration_sec=self.log_period)
            return
        try:
            self.filter.command(msg.name, np.asarray(msg.position, dtype=float), self._now())
        except CommandRejected as error:
            self.get_logger().warning(
                f"{topics.HAND_COMMAND} rejected, nothing forwarded: {error} "
                f"({self.filter.rejected_count} rejected so far)", throttle_duration_sec=self.log_period)
            return
        if self.filter.estopped:
            self.get_logger().warning(
                f"{topics.HAND_COMMAND} ignored: e-stop latched "
                f"(call {topics.HAND_CONTROLLER_RESET_ESTOP_SERVICE} to release)",
                throttle_duration_sec=self.log_period)
        self._tick_and_publish()

    def _on_estop_topic(self, msg: Bool) -> None:
        if msg.data:
            self._estop(f"{topics.HAND_CONTROLLER_ESTOP} topic")

    def _on_estop_service(self, request, response):
        self._estop(f"{topics.HAND_CONTROLLER_ESTOP_SERVICE} service")
        response.success = True
        response.message = f"e-stop latched; holding until {topics.HAND_CONTROLLER_RESET_ESTOP_SERVICE}"
        return response

    def _on_reset_estop_service(self, request, response):
        was_estopped = self.filter.estopped
        self.filter.reset_estop()
        if self.started:
            self._tick_and_publish()
        response.success = True
        response.message = ("e-stop released; holding until a fresh /hand/command arrives"
                            if was_estopped else "e-stop was not latched")
        self.get_logger().info(response.message)
        return response

    def _estop(self, source: str) -> None:
        if not self.filter.estopped:
            self.get_logger().warning(f"e-stop from {source}")
        self.filter.estop()
        if self.started:
            self._tick_and_publish()

    def _on_timer(self) -> None:
        if not self.started:
            return
        # While commands drive the ticks at the control rate the timer stays quiet (one output
        # per command: no duplicate traffic, and each output answers one command); it ticks
        # once commands pause for 1.5 periods (watchdog, hold, the rest of a rate-limited move).
        if self._last_tick_time is not None and self._now() - self._last_tick_time < 1.5 * self.dt:
            return
        self._tick_and_publish()

    # ---- outputs --------------------------------------------------------------------------
    def _tick_and_publish(self) -> TickOutput:
        now = self._now()
        self._last_tick_time = now
        out = self.filter.tick(now)
        self._controller_out.data = doubles(out.target)
        self.controller_pub.publish(self._controller_out)
        last = self.filter.last_command_time
        transition = self.hold_status.update(out.hold, None if last is None else now - last)
        if transition is not None:
            # rclpy fixes a call site's severity at its first call: one call per severity.
            if transition.warning:
                self.get_logger().warning(transition.message)
            else:
                self.get_logger().info(transition.message)
            if transition.holding_changed:
                self.holding_pub.publish(Bool(data=transition.holding))
        return out

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9


def main(args=None):
    sys.exit(run_node(lambda: HandController(), args))


if __name__ == "__main__":
    main()
