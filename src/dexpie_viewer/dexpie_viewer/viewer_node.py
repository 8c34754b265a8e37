"""viewer: the running graph, live in the browser (Rerun's web viewer, served from this host).

Started by `viewer:=true` (dexpie-launch / ros2 launch). It starts `rerun --serve-web` on
`bind` (127.0.0.1 by default), logs the URL to open, and shows joint positions and commands,
who is in control with the takeover / hand-back edges, the policy's planned chunks against
the executed commands, every /camera/<name>/image_raw it finds, and the episode events with
their outcome. The messages become plain values here; `dexpie_viewer.streams` decides what is
shown and `dexpie_viewer.rerun_sink` logs it.
"""
from __future__ import annotations

import sys

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState

from dexpie_common import topics
from dexpie_common.image_codec import MalformedImage, UnsupportedEncoding, to_rgb
from dexpie_common.messages import image_array, stamp_to_ns
from dexpie_common.node_main import NodeStartupError, run_node
from dexpie_common.ros_parameters import declare_hand, declare_parameters
from dexpie_msgs.msg import ActionChunk, EpisodeEvent, InterventionState
from dexpie_viewer.rerun_sink import RerunServer, RerunSink, ViewerServerError, blueprint, new_recording
from dexpie_viewer.streams import ViewerStreams, plotted_joints
from dexpie_viewer.viewer_parameters import NODE_NAME, VIEWER

STATE_QOS = 10
EVENTS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)   # as episode_recorder publishes
IMAGE_TYPE = "sensor_msgs/msg/Image"




def camera_name(topic: str) -> str | None:
    """The camera of a /camera/<name>/image_raw topic, None for any other topic."""
    parts = topic.strip("/").split("/")
    return parts[1] if len(parts) == 3 and topics.camera_topic(parts[1]) == topic else None


class ViewerNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        self.hand = declare_hand(self)
        self.params = p = declare_parameters(self, VIEWER)
        try:
            self.joints = plotted_joints(self.hand.joint_names, p.plot_joints)
        except ValueError as error:
            raise NodeStartupError(f"{NODE_NAME}: {error}") from None
        self.streams = ViewerStreams(self.joints, 1.0 / self.hand.control_rate_hz,
                                     int(1e9 / p.image_rate_hz) if p.image_rate_hz > 0 else 0)
        try:
            self.server = RerunServer(p.bind, p.web_port, p.grpc_port, p.memory_limit)
        except (ViewerServerError, OSError) as error:
            raise NodeStartupError(f"{NODE_NAME}: {error}") from None
        self.cameras: list[str] = []
        self.recording = new_recording()
        self.recording.connect_grpc(self.server.grpc_url, default_blueprint=blueprint(self.joints))
        self.sink = RerunSink(self.recording, self.joints)

        sub = self.create_subscription
        sub(JointState, topics.JOINT_STATES, self._on_joint_states, STATE_QOS)
        sub(JointState, topics.HAND_COMMAND, self._on_command, STATE_QOS)
        sub(InterventionState, topics.INTERVENTION_STATE, self._on_intervention, STATE_QOS)
        sub(ActionChunk, topics.POLICY_ACTION_CHUNK, self._on_chunk, STATE_QOS)
        sub(EpisodeEvent, topics.EPISODE_EVENTS, self._on_event, EVENTS_QOS)
        self._find_cameras()
        self.create_timer(p.camera_scan_s, self._find_cameras)
        if p.report_s > 0:
            self.create_timer(p.report_s, self._report)
        self.get_logger().info(f"live view: open {self.server.url} (plots: {', '.join(self.joints)})")

    def _find_cameras(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            name = camera_name(topic)
            if name is None or name in self.cameras or IMAGE_TYPE not in types:
                continue
            self.cameras.append(name)
            self.create_subscription(Image, topic, lambda msg, name=name: self._on_image(name, msg),
                                     qos_profile_sensor_data)
            self.recording.send_blueprint(blueprint(self.joints, self.cameras), make_active=True)
            self.get_logger().info(f"showing camera {name} ({topic})")

    def _on_joint_states(self, msg: JointState) -> None:
        self.sink.log(self.streams.joint_state(stamp_to_ns(msg.header.stamp), msg.name, msg.position))

    def _on_command(self, msg: JointState) -> None:
        self.sink.log(self.streams.command(stamp_to_ns(msg.header.stamp), msg.name, msg.position))

    def _on_intervention(self, msg: InterventionState) -> None:
        self.sink.log(self.streams.intervention(stamp_to_ns(msg.header.stamp), msg.source, msg.edge,
                                                msg.reason, msg.intervention_id, msg.detail))

    def _on_chunk(self, msg: ActionChunk) -> None:
        self.sink.log(self.streams.action_chunk(stamp_to_ns(msg.header.stamp), stamp_to_ns(msg.observation_stamp),
                                                list(msg.joint_names), msg.targets, msg.start_index))

    def _on_image(self, name: str, msg: Image) -> None:
        try:
            rgb = to_rgb(image_array(msg), msg.encoding)
        except (UnsupportedEncoding, MalformedImage) as error:
            self.get_logger().warning(f"camera {name}: {error}", throttle_duration_sec=10.0)
            return
        self.sink.log(self.streams.image(stamp_to_ns(msg.header.stamp), name, rgb))

    def _on_event(self, msg: EpisodeEvent) -> None:
        self.sink.log(self.streams.episode_event(stamp_to_ns(msg.header.stamp), msg.event, msg.episode_id,
                                                 msg.task, msg.stage, msg.outcome, msg.detail))

    def _report(self) -> None:
        c = self.streams.counters
        self.get_logger().info(
            f"shown: joint_states {c.joint_states}, commands {c.commands}, interventions {c.interventions} "
            f"(edges {c.edges}), chunks {c.chunks}, images {c.images}, events {c.events}; "
            f"records {self.sink.logged}")

    def close(self) -> None:
        """Send what is buffered, then stop the server (the recording is left to the SDK's own
        exit handling: disconnecting it here while rclpy shuts down crashed the process)."""
        try:
            self.recording.flush(timeout_sec=2.0)
        finally:
            self.server.close()


def main(args=None):
    sys.exit(run_node(lambda: ViewerNode(), args))


if __name__ == "__main__":
    main()
