"""`sim_operator`: the simulated human at the glove and the spacemouse (ROS edge of
`operator_session`).

It reacts to each control tick of the twin: once it holds /joint_states and the
/sim/object_state of the same stamp, it mirrors the scene, lets the operator decide, and
publishes /teleop/glove/joint_states (retargeted finger targets), /spacenav/twist and
/spacenav/joy (6 deflections, buttons [left, right]), all stamped with the tick's stamp.
/intervention/state says whether the arbiter gave it control; /sim/task_status gives the
episode tick (scripted presses) and the episode seed; /episode/events START starts an
episode afresh.
"""
from __future__ import annotations

import json
import sys

from geometry_msgs.msg import Twist
from rclpy.node import Node
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import String

from dexpie_common import topics
from dexpie_common.messages import MissingJoints, joint_state_msg, positions_by_name, stamp_to_ns
from dexpie_common.node_main import run_node
from dexpie_common.ros_parameters import declare_parameters
from dexpie_msgs.msg import EpisodeEvent, InterventionState
from dexpie_sim.mirror import MirrorError
from dexpie_sim.operator_session import OperatorSession, SessionConfig
from dexpie_sim.sim_operator_parameters import SIM_OPERATOR, operator_config
from dexpie_sim.tick_pairing import TickPairer


class SimOperatorNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__("sim_operator", **node_kwargs)
        params = declare_parameters(self, SIM_OPERATOR)
        config = SessionConfig(params.takeover_mode, params.scripted_takeover_tick, params.scripted_handback_tick,
                               params.press_ticks, params.min_press_interval_ticks)
        self.session = OperatorSession(params.task, config, operator_config(params), params.seed,
                                       population=params.operator_population)
        self.pairer = TickPairer()
        self._status: dict | None = None
        self._was_in_control = False
        self.glove_pub = self.create_publisher(JointState, topics.GLOVE_JOINT_STATES, 10)
        self.twist_pub = self.create_publisher(Twist, topics.SPACENAV_TWIST, 10)
        self.joy_pub = self.create_publisher(Joy, topics.SPACENAV_JOY, 10)
        # Created before /joint_states: when several are ready at once, the executor serves
        # subscriptions in creation order, so a tick's status and object state come first.
        self.create_subscription(String, topics.SIM_TASK_STATUS, self._on_status, 10)
        self.create_subscription(JointState, topics.SIM_OBJECT_STATE, self._on_object_state, 10)
        self.create_subscription(InterventionState, topics.INTERVENTION_STATE, self._on_intervention_state, 10)
        self.create_subscription(JointState, topics.HAND_COMMAND, self._on_hand_command, 10)
        self.create_subscription(EpisodeEvent, topics.EPISODE_EVENTS, self._on_episode_event, 10)
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joint_states, 10)
        self.get_logger().info(f"simulated operator on task {params.task!r}, takeover mode {params.takeover_mode!r}")

    # ---- inputs ------------------------------------------------------------------------------
    def _on_status(self, msg: String) -> None:
        try:
            status = json.loads(msg.data)
            int(status["tick"])
        except (ValueError, TypeError, KeyError) as error:
            self.get_logger().warn(f"{topics.SIM_TASK_STATUS} ignored ({error}): {msg.data[:80]!r}", throttle_duration_sec=5.0)
            return
        self._status = status

    def _on_intervention_state(self, msg: InterventionState) -> None:
        self.session.set_arbiter_source(msg.source)

    def _on_hand_command(self, msg: JointState) -> None:
        arm = self._read(msg, self.session.arm_joints, topics.HAND_COMMAND)
        if arm is not None:
            self.session.observe_command(arm)

    def _on_episode_event(self, msg: EpisodeEvent) -> None:
        if msg.event == EpisodeEvent.EVENT_START:
            self.session.episode_started(int(msg.seed) if msg.seed >= 0 else None)

    def _on_object_state(self, msg: JointState) -> None:
        values = self._read(msg, self.session.object_names, topics.SIM_OBJECT_STATE)
        if values is not None:
            self._maybe_tick(self.pairer.add_objects(stamp_to_ns(msg.header.stamp), values))

    def _on_joint_states(self, msg: JointState) -> None:
        positions = self._read(msg, self.session.joint_names, topics.JOINT_STATES)
        if positions is None:
            return
        velocities = None
        if len(msg.velocity) == len(msg.name):
            velocities = positions_by_name(msg, self.session.joint_names, field="velocity")
        self._maybe_tick(self.pairer.add_joints(stamp_to_ns(msg.header.stamp), (positions, velocities, msg.header.stamp)))

    def _read(self, msg: JointState, names, topic: str):
        try:
            return positions_by_name(msg, names)
        except (MissingJoints, ValueError) as error:
            self.get_logger().warn(f"{topic} ignored: {error}", throttle_duration_sec=5.0)
            return None

    # ---- the tick ------------------------------------------------------------------------------
    def _maybe_tick(self, pair) -> None:
        if pair is None:
            return
        (positions, velocities, stamp), objects = pair
        status = self._status or {}
        try:
            signals = self.session.tick(positions, objects, velocities, status_tick=status.get("tick"),
                                        status_seed=status.get("seed"))
        except MirrorError as error:
            self.get_logger().warn(f"tick skipped, the reported state cannot be mirrored: {error}",
                                   throttle_duration_sec=5.0)
            return
        if signals.in_control != self._was_in_control:
            self.get_logger().info("in control: steering with glove and spacemouse" if signals.in_control
                                   else "control went back: watching")
            self._was_in_control = signals.in_control
        self.glove_pub.publish(joint_state_msg(self.session.finger_joints, signals.fingers, stamp))
        axes = [float(a) for a in signals.axes]
        twist = Twist()
        twist.linear.x, twist.linear.y, twist.linear.z = axes[:3]
        twist.angular.x, twist.angular.y, twist.angular.z = axes[3:]
        self.twist_pub.publish(twist)
        joy = Joy()
        joy.header.stamp = stamp
        joy.axes = axes
        joy.buttons = [int(b) for b in signals.buttons]
        self.joy_pub.publish(joy)

    def close(self) -> None:
        self.session.close()




def main(args=None):
    sys.exit(run_node(lambda: SimOperatorNode(), args))


if __name__ == "__main__":
    main()
