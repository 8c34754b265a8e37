"""ROS 2 node `intervention_arbiter`: who commands the hand, policy or human (the ROS edge).

Wiring only; the decisions are `InterventionArbiter` (arbiter.py), the input bookkeeping
`ArbiterInputs` (arbiter_inputs.py) and the markers `InterventionMarkers` (markers.py).

Ticks (`drives_tick`): on every /policy/command while the policy is in control (so that the
latency is a chain of callbacks), on every /joint_states while the human or the hold is (one
tick per hardware tick), and on a fallback timer at rate_hz when nothing ticked for 1.5
periods (a dead policy, no /joint_states). Every tick publishes /hand/command, /intervention/state
and (if enabled) /intervention/markers, all stamped with the stamp of the tick's
observation (the latest /joint_states; the node clock on a fallback tick without one). Ticks wait for the
first /joint_states (the clutch needs the measured pose). The markers (RViz only; building and
serializing them was half of the tick's time) go out from an executor task of their own,
queued behind what the tick's command set off: in a node_container the hand controller
forwards the command before the markers are drawn. (A task, not a guard condition: rclpy
7.1.6's EventsExecutor refuses guard conditions.)

Subscribes: /policy/command, /policy/action_chunk, /joint_states, /teleop/glove/joint_states,
/spacenav/twist, /spacenav/joy, /episode/events (START starts a new arbiter episode),
/hand_controller/estop (std_msgs/Bool; true latches the e-stop).
Service: ~/reset_estop (std_srvs/Trigger) clears the latch; the hand keeps holding until a
spacemouse button press gives control to the human.
"""
from __future__ import annotations

import sys

import numpy as np
from dexpie_msgs.msg import ActionChunk, EpisodeEvent, InterventionState
from geometry_msgs.msg import Point, Twist
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from dexpie_common import topics
from dexpie_common.messages import JointStateOut, positions_by_name, stamp_to_ns
from dexpie_common.node_main import NodeStartupError, run_node
from dexpie_common.ros_parameters import declare_parameters
from dexpie_teleop.arbiter import REASON_NAMES, SOURCE_NAMES
from dexpie_teleop.arbiter_inputs import ArbiterInputs, drives_tick, fallback_due
from dexpie_teleop.intervention_arbiter_parameters import NODE_NAME, SCHEMA
from dexpie_teleop.markers import (KIND_LINE_STRIP, KIND_SPHERE, KIND_TEXT, InterventionMarkers,
                                   MarkerGeometry, PositionProjection)
from dexpie_teleop.teleop_setup import build_arbiter

_MARKER_TYPES = {KIND_TEXT: Marker.TEXT_VIEW_FACING, KIND_LINE_STRIP: Marker.LINE_STRIP,
                 KIND_SPHERE: Marker.SPHERE}
_QUEUE = 10


class InterventionArbiterNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        self.params = p = declare_parameters(self, SCHEMA)
        try:
            self.layout, self.arbiter = build_arbiter(p)
        except ValueError as error:  # the schema's checks should have caught it; say so clearly
            raise NodeStartupError(f"{NODE_NAME}: cannot build the arbiter: {error}") from error
        self.joint_names = list(p.joint_names)
        self.inputs = ArbiterInputs(len(self.joint_names), len(self.layout.finger_joints))
        self.period = 1.0 / p.rate_hz
        projection = (PositionProjection(p.marker_position_joints, p.marker_position_matrix,
                                         p.marker_position_offset) if p.marker_position_joints else None)
        self.markers = InterventionMarkers(self.joint_names, projection, p.marker_text_height)
        self.chunk: tuple[list[str], np.ndarray] | None = None
        self.last_state: InterventionState | None = None
        self.ticks_published = 0
        self._episode_pending = True   # start the arbiter's episode on the first measured tick
        self._estop_level = False
        self._estop_pending = False    # a true seen since the last tick (a pulse is not missed)
        self._observation_stamp = None  # header stamp of the latest /joint_states
        self._last_stamp_ns = -1           # stamp of the last tick (ns): stamps strictly increase
        self._last_tick_time = float("-inf")   # node clock of the last tick (fallback timer)

        # Outgoing messages are built once and refilled every tick (the names, the markers'
        # constant fields): the tick publishes three messages, on every control tick.
        self._command_out = JointStateOut(self.joint_names)
        self._marker_array = MarkerArray(markers=[self._new_marker() for _ in range(3)])
        self._drawn_chunk = None         # the chunk whose points the line strip holds
        self._pending_markers: list = []  # (tick output, command, measured, chunk, stamp) to draw
        self.command_pub = self.create_publisher(JointState, topics.HAND_COMMAND, _QUEUE)
        self.state_pub = self.create_publisher(InterventionState, topics.INTERVENTION_STATE, _QUEUE)
        self.marker_pub = self.create_publisher(MarkerArray, topics.INTERVENTION_MARKERS, _QUEUE)
        # Creation order is the order rclpy's executor serves subscriptions that are ready
        # together: the e-stop, the episode and the devices before the tick's own messages,
        # so that a button press that arrived with a tick acts on that tick.
        self.create_subscription(Bool, topics.HAND_CONTROLLER_ESTOP, self._on_estop, _QUEUE)
        self.create_subscription(EpisodeEvent, topics.EPISODE_EVENTS, self._on_episode_event, _QUEUE)
        self.create_subscription(JointState, topics.GLOVE_JOINT_STATES, self._on_glove, _QUEUE)
        self.create_subscription(Twist, topics.SPACENAV_TWIST, self._on_twist, _QUEUE)
        self.create_subscription(Joy, topics.SPACENAV_JOY, self._on_joy, _QUEUE)
        self.create_subscription(ActionChunk, topics.POLICY_ACTION_CHUNK, self._on_chunk, _QUEUE)
        # Sensor QoS (best effort) matches both reliable and best-effort joint state publishers.
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joint_states, qos_profile_sensor_data)
        self.create_subscription(JointState, topics.POLICY_COMMAND, self._on_policy_command, _QUEUE)
        self.create_service(Trigger, topics.INTERVENTION_ARBITER_RESET_ESTOP_SERVICE, self._on_reset_estop)
        self.create_timer(self.period, self._on_timer)
        mode = "human-only (demonstration collection)" if p.human_only else "policy with human takeover"
        self.get_logger().info(f"arbiter ready: {mode}; arm {list(self.layout.arm_joints)}, "
                               f"{len(self.layout.finger_joints)} finger joints, fallback ticks at {p.rate_hz} Hz")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ---- inputs ------------------------------------------------------------------------------
    def _joint_values(self, msg: JointState, names, what: str) -> np.ndarray | None:
        try:
            return positions_by_name(msg, names)
        except ValueError as error:  # MissingJoints is a ValueError too
            self.get_logger().warning(f"{what} ignored: {error}", throttle_duration_sec=2.0)
            return None

    def _on_joint_states(self, msg: JointState) -> None:
        values = self._joint_values(msg, self.joint_names, topics.JOINT_STATES)
        if values is None:
            return
        self._observation_stamp = msg.header.stamp
        if not self.inputs.set_measured(values):
            self.get_logger().warning(f"{topics.JOINT_STATES} ignored: not finite", throttle_duration_sec=2.0)
        elif drives_tick("joint_states", self.arbiter.source):
            self._tick(observation_stamp=msg.header.stamp)

    def _on_policy_command(self, msg: JointState) -> None:
        values = self._joint_values(msg, self.joint_names, topics.POLICY_COMMAND)
        now = self._now()
        if values is None or not self.inputs.set_policy(values, now):
            return
        # The policy command carries the stamp of the /joint_states it answers, which may
        # reach this node after the command does.
        if drives_tick("policy_command", self.arbiter.source):
            self._tick(observation_stamp=msg.header.stamp, now=now)

    def _on_glove(self, msg: JointState) -> None:
        values = self._joint_values(msg, self.layout.finger_joints, "glove joint state")
        if values is not None and not self.inputs.set_glove(values, self._now()):
            self.get_logger().warning("glove joint state ignored: not finite", throttle_duration_sec=2.0)

    def _on_twist(self, msg: Twist) -> None:
        axes = [msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.x, msg.angular.y, msg.angular.z]
        if not self.inputs.set_twist(axes, self._now()):
            self.get_logger().warning(f"{topics.SPACENAV_TWIST} ignored: not finite", throttle_duration_sec=2.0)

    def _on_joy(self, msg: Joy) -> None:
        self.inputs.set_joy(list(msg.axes), list(msg.buttons), self._now())

    def _on_chunk(self, msg: ActionChunk) -> None:
        names = list(msg.joint_names)
        if not names or msg.horizon == 0 or len(msg.targets) != msg.horizon * len(names):
            self.get_logger().warning(f"action chunk {msg.chunk_id} ignored: {len(msg.targets)} targets for "
                                      f"horizon {msg.horizon} x {len(names)} joints", throttle_duration_sec=2.0)
            return
        self.chunk = (names, np.asarray(msg.targets, float).reshape(msg.horizon, len(names)))

    def _on_episode_event(self, msg: EpisodeEvent) -> None:
        if msg.event != EpisodeEvent.EVENT_START:
            return
        self.chunk = None  # the last episode's plan means nothing now
        self.inputs.start_episode()  # device readings from before START may be of the old scene
        if self.inputs.measured is None:
            self._episode_pending = True
        else:
            self._start_episode()
        self.get_logger().info(f"episode {msg.episode_id} started (stage {msg.stage})")

    def _on_estop(self, msg: Bool) -> None:
        self._estop_level = bool(msg.data)
        if msg.data:
            self._estop_pending = True
            self.get_logger().error("e-stop asserted: the hand holds until reset and a button press")

    def _on_reset_estop(self, request, response):
        if self._estop_level:
            response.success, response.message = False, "the e-stop input is still asserted"
        else:
            self.arbiter.reset_estop()
            self._estop_pending = False
            response.success = True
            response.message = "e-stop cleared; the hand holds until a spacemouse button press"
        self.get_logger().info(f"reset_estop: {response.message}")
        return response

    # ---- the tick ----------------------------------------------------------------------------
    def _on_timer(self) -> None:
        if fallback_due(self._now(), self._last_tick_time, self.period):
            self._tick()

    def _start_episode(self) -> None:
        self.arbiter.start_episode(self.layout.to_core(self.inputs.measured), now=self._now())
        self._episode_pending = False

    def _tick(self, observation_stamp=None, now: float | None = None) -> None:
        if self.inputs.measured is None:
            self.get_logger().warning("no /joint_states yet: not commanding the hand", throttle_duration_sec=2.0)
            return
        if self._episode_pending:
            self._start_episode()
        now = self._now() if now is None else now
        self._last_tick_time = now
        reading, glove_age, spacemouse_age = self.inputs.device_reading(now)
        policy, policy_age = self.inputs.policy(now)
        estop = self._estop_level or self._estop_pending
        self._estop_pending = False
        out = self.arbiter.step(now, self.layout.to_core(self.inputs.measured),
                                None if policy is None else self.layout.to_core(policy), reading,
                                policy_age=policy_age, glove_age=glove_age, spacemouse_age=spacemouse_age,
                                estop=estop)
        command = self.layout.from_core(out.command)
        stamp = self._tick_stamp(observation_stamp)
        self.command_pub.publish(self._command_out.fill(command, stamp))
        self.state_pub.publish(self._state_msg(out, stamp))
        if self.params.markers_enabled:
            self._pending_markers.append((out, command, self.inputs.measured, self.chunk, stamp))
            if self.executor is None:
                self._publish_markers()
            else:
                self.executor.create_task(self._publish_markers)
        self.ticks_published += 1
        if out.edge:
            self.get_logger().info(f"{SOURCE_NAMES[out.source]} in control ({REASON_NAMES[out.reason]}; "
                                   f"intervention {out.intervention_id}) {out.detail}")

    def _tick_stamp(self, observation_stamp=None):
        """The stamp of the observation this tick acts on (the /joint_states the policy command
        answers, else the latest /joint_states), so recorder, benchmarks and logs line a tick
        up with its observation; a tick with no newer observation gets the node clock."""
        for observed in (observation_stamp, self._observation_stamp):
            if observed is None:
                continue
            observed_ns = stamp_to_ns(observed)
            if observed_ns > self._last_stamp_ns:
                self._last_stamp_ns = observed_ns
                return observed
        # Strictly after the last tick's stamp: the recorder refuses a repeated stamp (in
        # lockstep the node clock can equal the stamp of an observation already ticked).
        self._last_stamp_ns = max(self.get_clock().now().nanoseconds, self._last_stamp_ns + 1)
        return Time(nanoseconds=self._last_stamp_ns).to_msg()

    def _state_msg(self, out, stamp) -> InterventionState:
        msg = InterventionState()
        msg.header.stamp = stamp
        msg.source, msg.edge, msg.reason = out.source, out.edge, out.reason
        msg.intervention_id, msg.tick = out.intervention_id, out.tick
        msg.human_idle_time, msg.detail = float(out.human_idle_time), out.detail
        self.last_state = msg
        return msg

    def _publish_markers(self) -> None:
        """Every tick's markers since the last call, in order."""
        pending, self._pending_markers = self._pending_markers, []
        for out, command, measured, chunk, stamp in pending:
            self.marker_pub.publish(self._marker_msg(out, command, measured, chunk, stamp))

    def _marker_msg(self, out, command: np.ndarray, measured, chunk, stamp) -> MarkerArray:
        geometry = self.markers.build(out.source, out.intervention_id, out.reason, command, measured, chunk)
        for marker, g in zip(self._marker_array.markers, geometry, strict=True):
            self._fill_marker(marker, g, chunk, stamp)
        self._drawn_chunk = chunk
        return self._marker_array

    def _new_marker(self) -> Marker:
        marker = Marker()
        marker.header.frame_id = self.params.marker_frame
        marker.pose.orientation.w = 1.0
        return marker

    def _fill_marker(self, marker: Marker, g: MarkerGeometry, chunk, stamp) -> None:
        marker.header.stamp = stamp
        marker.ns, marker.id, marker.type = g.namespace, g.marker_id, _MARKER_TYPES[g.kind]
        marker.action = Marker.ADD if g.visible else Marker.DELETE
        marker.scale.x, marker.scale.y, marker.scale.z = (float(v) for v in g.scale)
        color = marker.color
        color.r, color.g, color.b, color.a = (float(v) for v in g.color)
        marker.text = g.text
        if g.kind == KIND_LINE_STRIP:
            # The strip is the latest chunk's path: rebuilt when a chunk arrives (or goes).
            if chunk is not self._drawn_chunk or len(marker.points) != len(g.points):
                marker.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in g.points]
        elif len(g.points):
            position = marker.pose.position
            position.x, position.y, position.z = (float(v) for v in g.points[0])


def main(args=None):
    sys.exit(run_node(lambda: InterventionArbiterNode(), args))


if __name__ == "__main__":
    main()
