"""`sim_hand`: the MuJoCo twin as the robot's hardware interface (ROS edge of `hand_twin`).

Every timer tick (rate_hz, wall clock) the twin steps one control period holding the latest
command from /hand_position_controller/commands, then publishes /sim/object_state,
/sim/task_status, the configured camera images and, last, /joint_states: that message is
the control tick the rest of the graph reacts to, so everything it pairs with is already out.
All of one tick's messages carry the same header stamp (the tick time).

`clock: lockstep` (the sim graphs' default): the twin is the graph's clock. It publishes
/clock after each tick's messages (simulated time, one control period per tick, from the wall time at
start-up), the other nodes run with use_sim_time, and a timer tick steps only when
`LockstepGate` (lockstep.py) says the chain has answered the previous tick, and not between a
reset and the episode's START. `clock: wall`: ticks on the wall clock whatever the chain does.
"""
from __future__ import annotations

import json
import sys
import time

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from rosgraph_msgs.msg import Clock
from geometry_msgs.msg import Point, Quaternion, Vector3
from sensor_msgs.msg import Image, JointState, Joy
from std_msgs.msg import ColorRGBA, Float64MultiArray, String
from visualization_msgs.msg import Marker, MarkerArray

from dexpie_common import topics
from dexpie_common.messages import image_msg, joint_state_msg, stamp_to_ns
from dexpie_common.node_main import NodeStartupError, run_node
from dexpie_common.ros_parameters import declare_parameters
from dexpie_msgs.msg import EpisodeEvent, InterventionState
from dexpie_msgs.srv import ResetToStage
from dexpie_sim.hand_twin import HandTwin
from dexpie_sim.lockstep import LockstepGate, LockstepTiming
from dexpie_sim.scene_markers import CUBE, CYLINDER, SPHERE, scene_primitives
from dexpie_sim.sim_hand_parameters import SIM_HAND


class SimHandNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__("sim_hand", **node_kwargs)
        params = declare_parameters(self, SIM_HAND)
        try:
            self.twin = HandTwin(params.task, params.seed, params.start_stage, tuple(params.cameras),
                                 params.image_size)
        except ValueError as error:
            raise NodeStartupError(f"sim_hand: {error}") from error
        self.cameras = tuple(params.cameras)
        if self.cameras:
            self._check_rendering()
        spec = self.twin.spec
        self.joint_pub = self.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.object_pub = self.create_publisher(JointState, topics.SIM_OBJECT_STATE, 10)
        self.status_pub = self.create_publisher(String, topics.SIM_TASK_STATUS, 10)
        self.image_pubs = {name: self.create_publisher(Image, topics.camera_topic(name), 2)
                           for name in self.cameras}
        self.create_subscription(Float64MultiArray, topics.HAND_CONTROLLER_COMMANDS, self._on_command, 10)
        self.create_service(ResetToStage, topics.SIM_RESET_TO_STAGE_SERVICE, self._on_reset)
        self._divergence_logged = False
        self.rejected_commands = 0    # diagnostics (and what a test waits on)
        self.gate = None
        if params.clock == "lockstep":
            period = 1.0 / params.rate_hz
            self.gate = LockstepGate(LockstepTiming(short_wait_s=0.5 * period, answer_timeout_s=params.answer_timeout,
                                                    start_timeout_s=params.start_timeout))
            # Simulated time: one control period per tick, from the wall time at start-up
            # (stamps look like dates in bags and logs). rclpy's time source reads /clock best effort.
            self._sim_time_ns = time.time_ns() // 1_000_000 * 1_000_000
            self._control_dt_ns = round(spec.control_dt * 1e9)
            self.clock_pub = self.create_publisher(Clock, topics.CLOCK, QoSProfile(
                depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
            self.create_subscription(InterventionState, topics.INTERVENTION_STATE,
                                     lambda msg: self.gate.state_received(stamp_to_ns(msg.header.stamp)), 10)
            self.create_subscription(Joy, topics.SPACENAV_JOY,
                                     lambda msg: self.gate.operator_received(stamp_to_ns(msg.header.stamp)), 10)
            self.create_subscription(EpisodeEvent, topics.EPISODE_EVENTS, self._on_episode_event, 10)
            if self.get_parameter("use_sim_time").value:
                raise NodeStartupError("sim_hand: clock 'lockstep' makes the twin the graph's clock; it cannot "
                                       "itself run with use_sim_time:=true (give use_sim_time to the other nodes)")
        self.timer = self.create_timer(1.0 / params.rate_hz, self._on_tick)
        if params.scene_markers_hz > 0:
            self.scene_pub = self.create_publisher(MarkerArray, topics.SIM_SCENE_MARKERS, 2)
            self.create_timer(1.0 / params.scene_markers_hz, self._publish_scene)
        real_time = abs(params.rate_hz * spec.control_dt - 1.0) < 1e-6
        self.get_logger().info(
            f"twin of task {spec.name!r} ({len(spec.joint_names)} joints), stage {self.twin.start_stage!r} "
            f"of seed {params.seed}, ticking at {params.rate_hz:g} Hz"
            + (" in lockstep with the control chain (publishing /clock)" if self.gate else "")
            + ("" if real_time else f" ({params.rate_hz * spec.control_dt:.2f}x real time)")
            + (f", cameras {list(self.cameras)}" if self.cameras else ""))

    def _check_rendering(self) -> None:
        try:
            self.twin.observe()
        except Exception as error:  # EGL/OSMesa set-up failures come in several types
            self.twin.close()
            raise NodeStartupError(f"sim_hand: cannot render cameras {list(self.cameras)}: {error} "
                                   f"(headless machines need MUJOCO_GL=egl and libEGL)") from error

    # ---- inputs ------------------------------------------------------------------------------
    def _on_command(self, msg: Float64MultiArray) -> None:
        if self.gate is not None:
            self.gate.command_received()
        problem = self.twin.command(msg.data)
        if problem:
            self.rejected_commands += 1
            self.get_logger().warn(f"command on {topics.HAND_CONTROLLER_COMMANDS} rejected, previous target kept: {problem}",
                                   throttle_duration_sec=1.0)

    def _on_reset(self, request: ResetToStage.Request, response: ResetToStage.Response):
        result = self.twin.reset(request.task, request.stage, int(request.seed))
        response.success = result.success
        response.message = result.message
        response.joint_names = list(self.twin.spec.joint_names)
        response.joint_positions = [float(v) for v in result.joint_positions]
        if result.success:
            self.get_logger().info(f"reset_to_stage: {result.message}")
        else:  # rclpy ties a severity to its call site: one call per severity
            self.get_logger().warn(f"reset_to_stage refused: {result.message}")
        self._divergence_logged = False
        if self.gate is not None and result.success:
            self.gate.reset(time.monotonic())
        return response

    def _on_episode_event(self, msg: EpisodeEvent) -> None:
        if msg.event == EpisodeEvent.EVENT_START:
            self.gate.episode_started()

    # ---- the control tick ----------------------------------------------------------------------
    def _on_tick(self) -> None:
        if self.gate is not None:
            holding = self.gate.holding_for_start
            unanswered = self.gate.unanswered_ticks
            if not self.gate.may_step(time.monotonic()):
                return
            if holding:
                self._log_start_timeout()
            if self.gate.unanswered_ticks > unanswered:
                self._log_unanswered()
            self._sim_time_ns += self._control_dt_ns
        observation = self.twin.tick()
        if self.twin.divergence and not self._divergence_logged:
            self.get_logger().error(f"{self.twin.divergence}; call /sim/reset_to_stage to start again")
            self._divergence_logged = True
        spec = self.twin.spec
        stamp = self._stamp()
        self.object_pub.publish(joint_state_msg(spec.object_names, observation.object_state, stamp))
        self.status_pub.publish(String(data=json.dumps(self.twin.status())))
        for name, publisher in self.image_pubs.items():
            publisher.publish(image_msg(observation.images[name], "rgb8", stamp, frame_id=name))
        self.joint_pub.publish(joint_state_msg(spec.joint_names, observation.joint_positions, stamp,
                                               velocities=observation.joint_velocities))
        if self.gate is not None:
            # The clock moves after the tick's messages: a node whose timer fires on the new
            # time (the arbiter's fallback tick) already holds the observation of that time.
            self.gate.published(stamp_to_ns(stamp), time.monotonic())
            self.clock_pub.publish(Clock(clock=stamp))

    def _stamp(self):
        """The tick time: simulated in lockstep, else the node's clock."""
        if self.gate is not None:
            return Time(nanoseconds=self._sim_time_ns).to_msg()
        return self.get_clock().now().to_msg()

    def _log_start_timeout(self) -> None:
        self.get_logger().warning(f"no episode START on {topics.EPISODE_EVENTS} within "
                                  f"{self.gate.timing.start_timeout_s:g} s of the reset: ticking again")

    def _log_unanswered(self) -> None:
        # Expected while the graph starts and before a policy's first chunk; a count that keeps
        # growing while the policy runs means a node of the chain is stalled or gone.
        self.get_logger().info(f"tick stepped without the chain's answer ({self.gate.unanswered_ticks} so far, "
                               f"{self.gate.answered_ticks} answered)", throttle_duration_sec=10.0)

    def _publish_scene(self) -> None:
        """The scene's primitive shapes in the world frame (RViz: the hand without a URDF)."""
        stamp = self._stamp()
        kinds = {SPHERE: Marker.SPHERE, CYLINDER: Marker.CYLINDER, CUBE: Marker.CUBE}
        markers = []
        for index, shape in enumerate(scene_primitives(self.twin.task.model, self.twin.task.data)):
            marker = Marker(type=kinds[shape.kind], action=Marker.ADD, ns="scene", id=index)
            marker.header.stamp, marker.header.frame_id = stamp, "world"
            marker.pose.position = Point(x=float(shape.position[0]), y=float(shape.position[1]),
                                         z=float(shape.position[2]))
            x, y, z, w = (float(v) for v in shape.quaternion)
            marker.pose.orientation = Quaternion(x=x, y=y, z=z, w=w)
            marker.scale = Vector3(x=float(shape.scale[0]), y=float(shape.scale[1]), z=float(shape.scale[2]))
            marker.color = ColorRGBA(r=float(shape.rgba[0]), g=float(shape.rgba[1]), b=float(shape.rgba[2]),
                                     a=float(shape.rgba[3]))
            markers.append(marker)
        self.scene_pub.publish(MarkerArray(markers=markers))

    def close(self) -> None:
        self.twin.close()




def main(args=None):
    sys.exit(run_node(lambda: SimHandNode(), args))


if __name__ == "__main__":
    main()
