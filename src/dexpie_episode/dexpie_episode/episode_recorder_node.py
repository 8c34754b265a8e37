"""episode_recorder: one bag per episode, in the project's episode format, from the live graph.

Services /episode/start and /episode/end open and close an episode; /episode/events
announces START, END and INCOMPLETE (episodes found unfinished at start-up, or set aside).
/episode/start is refused (message starting "recorder not ready") until every recorded
stream has been received once; an episode that lost control ticks ends INCOMPLETE.
Every message is converted to plain values here and handed to the pure core
(`dexpie_episode.live_recording.LiveRecorder`), which assembles the control ticks
and writes them with the same EpisodeWriter the in-process simulation uses.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String

from dexpie_common import topics

# The ROS 2 distribution of the pip wheels (requirements/ros-wheels.txt), which set no
# ROS_DISTRO; a sourced ROS 2 install does.
PIP_RUNTIME_DISTRO = "jazzy"
from dexpie_common.messages import MissingJoints, image_array, positions_by_name, stamp_to_ns
from dexpie_common.image_codec import to_rgb
from dexpie_common.node_main import NodeStartupError, run_node
from dexpie_common.ros_parameters import declare_hand, declare_parameters
from dexpie_episode import ActionChunkRecord, episode_typestore
from dexpie_episode.live_recording import (
    EventRecord, LiveRecorder, RecorderConfig, RecorderNotReady, RecorderRequestError)
from dexpie_episode.live_ticks import InterventionSample
from dexpie_episode.schema import SOURCE_HUMAN, SOURCE_POLICY
from dexpie_episode.episode_recorder_parameters import EPISODE_RECORDER, NODE_NAME
from dexpie_msgs.msg import ActionChunk, EpisodeEvent, InterventionState
from dexpie_msgs.srv import EndEpisode, StartEpisode

STATE_QOS = 10
# Late joiners still learn about episodes set aside at start-up; compatible with volatile
# subscribers too.
EVENTS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
WARN_EVERY_S = 2.0




class EpisodeRecorderNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        # Written into every episode's metadata; it must describe what this node records.
        # Declared first: declare_parameters' set-callback refuses names outside its schema.
        self.hand = declare_hand(self)
        self.params = p = declare_parameters(self, EPISODE_RECORDER)
        self.joint_names = list(p.joint_names)
        if self.hand.joint_names != tuple(p.joint_names):
            raise NodeStartupError(f"{NODE_NAME}: hand.joint_names {list(self.hand.joint_names)} "
                                   f"differ from joint_names {list(p.joint_names)}")
        if abs(self.hand.control_rate_hz - p.control_rate_hz) > 1e-9:
            raise NodeStartupError(f"{NODE_NAME}: hand.control_rate_hz {self.hand.control_rate_hz} "
                                   f"differs from control_rate_hz {p.control_rate_hz}")
        config = RecorderConfig(
            joint_names=tuple(p.joint_names), control_dt=1.0 / p.control_rate_hz,
            cameras=tuple(p.cameras), ticks_from_arbiter=p.tick_topic == topics.INTERVENTION_STATE,
            source_without_arbiter=SOURCE_HUMAN if p.source_without_arbiter == "human" else SOURCE_POLICY,
            record_object_state=p.record_object_state, object_names=tuple(p.object_names),
            max_episode_ticks=p.max_episode_ticks,
            durable=p.durable, hand=self.hand, command_topic=p.command_topic,
            ros_distro=os.environ.get("ROS_DISTRO") or PIP_RUNTIME_DISTRO)
        self.events = self.create_publisher(EpisodeEvent, topics.EPISODE_EVENTS, EVENTS_QOS)
        try:
            episode_typestore()  # the .msg definitions every bag stores: fail now, not mid-episode
            self.recorder = LiveRecorder(p.output_dir, config, notify=self._publish_event)
            recovered = self.recorder.recover_unfinished()
        except Exception as error:  # OSError, MessageDefinitionsNotFound, ...
            raise NodeStartupError(f"{NODE_NAME}: cannot use output_dir {p.output_dir!r}: {error}") from error
        for event in recovered:
            self.get_logger().warning(f"unfinished episode {event.episode_id} set aside: {event.bag_path}")
        self._warned_no_velocity = False

        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joint_states, STATE_QOS)
        if p.record_object_state:
            self.create_subscription(JointState, topics.SIM_OBJECT_STATE, self._on_object_state, STATE_QOS)
        for name in p.cameras:
            # Sensor-data QoS: also receives from best-effort camera drivers.
            self.create_subscription(Image, topics.camera_topic(name),
                                     lambda msg, name=name: self._on_image(name, msg),
                                     qos_profile_sensor_data)
        self.create_subscription(JointState, topics.POLICY_COMMAND, self._on_policy_command, STATE_QOS)
        if p.command_topic == topics.HAND_COMMAND:
            self.create_subscription(JointState, topics.HAND_COMMAND, self._on_hand_command, STATE_QOS)
        elif p.command_topic == topics.HAND_CONTROLLER_COMMANDS:
            self.create_subscription(Float64MultiArray, p.command_topic, self._on_controller_command,
                                     STATE_QOS)
        if config.ticks_from_arbiter:
            self.create_subscription(InterventionState, topics.INTERVENTION_STATE, self._on_intervention,
                                     STATE_QOS)
        self.create_subscription(ActionChunk, topics.POLICY_ACTION_CHUNK, self._on_chunk, STATE_QOS)
        if p.record_stage_events:
            self.create_subscription(String, topics.SIM_TASK_STATUS, self._on_task_status, STATE_QOS)
        self.create_service(StartEpisode, topics.EPISODE_START_SERVICE, self._on_start)
        self.create_service(EndEpisode, topics.EPISODE_END_SERVICE, self._on_end)
        self.get_logger().info(
            f"recording into {p.output_dir}; tick = {p.tick_topic}, command = {p.command_topic}, "
            f"cameras = {list(p.cameras)}")

    # ---- helpers -------------------------------------------------------------------------
    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _warn(self, text: str | None) -> None:
        if text:
            self.get_logger().warning(text, throttle_duration_sec=WARN_EVERY_S)

    def _publish_event(self, record: EventRecord) -> None:
        msg = EpisodeEvent(event=record.event, episode_id=record.episode_id, task=record.task,
                           stage=record.stage, outcome=record.outcome, seed=record.seed,
                           bag_path=record.bag_path, detail=record.detail)
        msg.header.stamp = self.get_clock().now().to_msg()
        if not self.context.ok():  # shutting down (Ctrl-C): nobody is left to tell
            return
        try:
            self.events.publish(msg)
        except Exception as error:  # shutting down: the context may already be gone
            self.get_logger().warning(f"could not publish episode event: {error}")

    def _joints(self, msg: JointState, field: str = "position") -> np.ndarray | None:
        try:
            return positions_by_name(msg, self.joint_names, field)
        except (MissingJoints, ValueError) as error:
            self._warn(f"JointState ignored: {error}")
            return None

    # ---- streams -------------------------------------------------------------------------
    def _on_joint_states(self, msg: JointState) -> None:
        positions = self._joints(msg)
        if positions is None:
            return
        if len(msg.velocity) == 0:
            if not self._warned_no_velocity:
                self.get_logger().warning(f"{topics.JOINT_STATES} carries no velocities: recording zeros")
                self._warned_no_velocity = True
            velocities = np.zeros_like(positions)
        else:
            velocities = self._joints(msg, "velocity")
            if velocities is None:
                return
        self._warn(self.recorder.on_joint_state(stamp_to_ns(msg.header.stamp), positions, velocities,
                                                self._now_ns()))

    def _on_object_state(self, msg: JointState) -> None:
        if len(msg.position) != len(msg.name):
            self._warn(f"{topics.SIM_OBJECT_STATE} ignored: {len(msg.name)} names, {len(msg.position)} values")
            return
        self.recorder.on_object_state(tuple(msg.name), np.array(msg.position, dtype=float))

    def _on_image(self, name: str, msg: Image) -> None:
        try:
            pixels = to_rgb(image_array(msg), msg.encoding)
        except ValueError as error:  # UnsupportedEncoding, MalformedImage
            self._warn(f"{topics.camera_topic(name)} image ignored: {error}")
            return
        self.recorder.on_image(name, pixels)

    def _on_policy_command(self, msg: JointState) -> None:
        positions = self._joints(msg)
        if positions is None:
            return
        self.recorder.on_policy_command(stamp_to_ns(msg.header.stamp), positions)
        if self.params.command_topic == topics.POLICY_COMMAND:
            self.recorder.on_command(stamp_to_ns(msg.header.stamp), positions)

    def _on_hand_command(self, msg: JointState) -> None:
        positions = self._joints(msg)
        if positions is not None:
            self.recorder.on_command(stamp_to_ns(msg.header.stamp), positions)

    def _on_controller_command(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != len(self.joint_names):
            self._warn(f"{self.params.command_topic} ignored: {len(msg.data)} values for "
                       f"{len(self.joint_names)} joint_names")
            return
        self.recorder.on_command(None, np.array(msg.data, dtype=float))

    def _on_intervention(self, msg: InterventionState) -> None:
        sample = InterventionSample(stamp_to_ns(msg.header.stamp), msg.source, msg.edge, msg.reason,
                                    msg.intervention_id, msg.human_idle_time, msg.detail, msg.tick)
        self._warn(self.recorder.on_intervention(sample, self._now_ns()))

    def _on_chunk(self, msg: ActionChunk) -> None:
        if not self.recorder.recording:
            return
        joints = len(msg.joint_names)
        if len(msg.actions) != msg.horizon * msg.action_dim or len(msg.targets) != msg.horizon * joints:
            self._warn(f"action chunk {msg.chunk_id} ignored: array sizes do not match horizon "
                       f"{msg.horizon}, action_dim {msg.action_dim}, {joints} joints")
            return
        self._warn(self.recorder.on_chunk(ActionChunkRecord(
            stamp_ns=stamp_to_ns(msg.header.stamp), chunk_id=msg.chunk_id,
            observation_stamp_ns=stamp_to_ns(msg.observation_stamp), joint_names=tuple(msg.joint_names),
            anchor=np.array(msg.anchor, dtype=float),
            actions=np.array(msg.actions, dtype=float).reshape(msg.horizon, msg.action_dim),
            targets=np.array(msg.targets, dtype=float).reshape(msg.horizon, joints),
            group_names=tuple(msg.group_names), group_representations=tuple(msg.group_representations),
            group_joint_names=tuple(msg.group_joint_names), delay_steps=msg.delay_steps,
            start_index=msg.start_index, inference_latency=msg.inference_latency,
            optimality=msg.optimality, cfg_scale=msg.cfg_scale)))

    def _on_task_status(self, msg: String) -> None:
        if not self.recorder.recording:
            return
        try:
            stage = json.loads(msg.data).get("stage", "")
        except (ValueError, AttributeError):
            self._warn(f"{topics.SIM_TASK_STATUS} ignored: not a JSON object")
            return
        if isinstance(stage, str):
            self.recorder.on_stage(stage)

    # ---- services ------------------------------------------------------------------------
    def _on_start(self, request: StartEpisode.Request, response: StartEpisode.Response):
        try:
            started = self.recorder.start(request.task, request.stage, request.seed, request.note)
        except RecorderNotReady as error:
            response.success, response.message = False, str(error)
            self.get_logger().warning(f"{topics.EPISODE_START_SERVICE} deferred: {error}",
                                      throttle_duration_sec=WARN_EVERY_S)
            return response
        except RecorderRequestError as error:
            response.success, response.message = False, str(error)
            self.get_logger().warning(f"{topics.EPISODE_START_SERVICE} refused: {error}")
            return response
        response.success, response.message = True, started.message
        response.episode_id, response.bag_path = started.episode_id, started.bag_path
        self.get_logger().info(f"{started.message} ({request.task}, stage {request.stage}, "
                               f"seed {request.seed})")
        return response

    def _on_end(self, request: EndEpisode.Request, response: EndEpisode.Response):
        try:
            ended = self.recorder.end(request.outcome, request.note)
        except RecorderRequestError as error:
            response.success, response.message = False, str(error)
            self.get_logger().warning(f"{topics.EPISODE_END_SERVICE} refused: {error}")
            return response
        response.success, response.message = ended.complete, ended.message
        response.episode_id, response.bag_path = ended.episode_id, ended.bag_path
        response.num_steps = ended.num_ticks
        # Separate call sites: an rclpy log call site has one fixed severity.
        if ended.complete:
            self.get_logger().info(ended.message)
        else:
            self.get_logger().error(ended.message)
        return response

    def close(self) -> None:
        """Shutdown with an episode running: set it aside as incomplete (it has no label)."""
        event = self.recorder.shutdown("the recorder shut down during the episode")
        if event is not None:
            self.get_logger().warning(f"episode {event.episode_id} set aside as incomplete: {event.bag_path}")


def main(args=None):
    sys.exit(run_node(lambda: EpisodeRecorderNode(), args))


if __name__ == "__main__":
    main()
