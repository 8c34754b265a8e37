"""policy_server: a policy checkpoint behind the asynchronous chunk scheduler, on the graph.

Every /joint_states message is a control tick. Once the object state (if the checkpoint
uses it) and the trained cameras' images with the same stamp (within `sync_tolerance`) have
arrived, the observation is assembled as in the twin's evaluation, the scheduler ticks
(inference runs in its worker thread; the tick never waits for it) and the tick's joint
target goes out on /policy/command stamped with the /joint_states stamp it answers. Each
chunk that arrives is published on /policy/action_chunk. A tick whose observation cannot be
completed, or with no valid target (before the first chunk, inference failing), publishes
nothing and says why in a throttled log line. The scheduler is reset at episode start and
when the operator hands control back, so the policy resumes from the current state.
"""
from __future__ import annotations

import sys
import time
from collections import deque

import numpy as np
from dexpie_common import topics
from dexpie_common.image_codec import MalformedImage, UnsupportedEncoding, to_rgb
from dexpie_common.messages import (JointStateOut, MissingJoints, image_array,
                                    positions_by_name, stamp_to_seconds)
from dexpie_common.node_main import NodeStartupError, run_node
from dexpie_common.ros_parameters import declare_hand, declare_parameters
from dexpie_msgs.msg import ActionChunk, EpisodeEvent, InterventionState
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState

from dexpie_policy.checkpoint import CheckpointError
from dexpie_policy.policy_server_core import (JOINT_STREAM, OBJECT_STREAM, Conditioning,
                                              ObservationError, ObservationLayout,
                                              ProblemThrottle, chunk_fields, command_is_valid,
                                              check_running_hand, image_stream, output_order)
from dexpie_policy.policy_server_parameters import NODE_NAME, POLICY_SERVER
from dexpie_policy.runner import PolicyRunner
from dexpie_policy.scheduler import ChunkScheduler, RunnerPredictor
from dexpie_policy.synchronizer import ObservationSynchronizer


class PolicyServer(Node):
    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        # The running hand (the parameters file's hand.*; optional here). Declared before the
        # schema, whose set-callback refuses names outside it.
        running_hand = declare_hand(self, required=False)
        params = declare_parameters(self, POLICY_SERVER)
        self.params = params
        try:
            self._runner = PolicyRunner.from_pretrained(params.checkpoint, device=params.device,
                                                        torch_threads=params.inference_threads,
                                                        linear_backend=params.sampler)
        except (CheckpointError, OSError, RuntimeError, ValueError) as error:
            raise NodeStartupError(f"{NODE_NAME}: cannot load checkpoint "
                                   f"{params.checkpoint!r}: {error}") from None
        config, spec = self._runner.config, self._runner.spec
        try:
            self._layout = ObservationLayout.from_checkpoint(config, spec, params.object_names)
            self._order = output_order(spec.joint_names, params.joint_names)
            check_running_hand(spec.joint_names, running_hand)
        except ObservationError as error:
            raise NodeStartupError(f"{NODE_NAME}: {error}") from None
        self._output_names = [spec.joint_names[i] for i in self._order]
        self._command_out = JointStateOut(self._output_names)
        self._conditioning = Conditioning.resolve(
            config.optimality_conditioning, params.condition_on_optimality, params.optimality,
            params.cfg_scale)
        self._sync = ObservationSynchronizer(self._layout.streams, params.sync_tolerance,
                                             params.max_observation_age)
        self._throttle = ProblemThrottle(params.log_period)
        self.recent_problems: deque[tuple[str, str]] = deque(maxlen=100)
        self.ticks = self.dropped_ticks = self.commands_published = self.chunks_published = 0
        self._pending = None            # (seconds, Time) of the /joint_states tick to answer
        self._pending_reason = "no observation assembled yet"
        self._last_reference = None     # seconds of the last tick answered or dropped
        self._inference_failing = False
        self._closed = False

        self._command_pub = self.create_publisher(JointState, topics.POLICY_COMMAND, 10)
        self._chunk_pub = self.create_publisher(ActionChunk, topics.POLICY_ACTION_CHUNK, 10)
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joint_states, 10)
        if self._layout.uses_object_state:
            self.create_subscription(JointState, topics.SIM_OBJECT_STATE, self._on_object_state, 10)
        for camera in self._layout.camera_names:
            # Sensor-data QoS (best effort) matches both reliable and best-effort cameras.
            self.create_subscription(Image, topics.camera_topic(camera),
                                     lambda msg, camera=camera: self._on_image(camera, msg),
                                     qos_profile_sensor_data)
        self.create_subscription(EpisodeEvent, topics.EPISODE_EVENTS, self._on_episode_event, 10)
        self.create_subscription(InterventionState, topics.INTERVENTION_STATE,
                                 self._on_intervention_state, 10)

        # Last: the scheduler owns the inference worker thread (stopped in close()).
        prefix_steps = min(params.max_prefix_steps, config.max_delay_steps)
        self._runner.warm_up(prefix_steps, **self._conditioning.runner_kwargs)
        self._scheduler = ChunkScheduler.threaded(
            RunnerPredictor(self._runner, **self._conditioning.runner_kwargs), mode=params.mode,
            request_threshold=params.request_threshold, max_prefix_steps=prefix_steps,
            first_chunk_wait_s=params.first_chunk_wait)
        inputs = [topics.JOINT_STATES] + ([topics.SIM_OBJECT_STATE] if self._layout.uses_object_state
                                        else []) + [topics.camera_topic(c) for c in config.camera_names]
        self.get_logger().info(
            f"loaded {params.checkpoint} (H={config.horizon}, {len(spec.joint_names)} joints, "
            f"groups {[f'{g.name}:{g.representation}' for g in spec.groups]}); inputs {inputs}; "
            f"mode {params.mode}, prefix <= {prefix_steps}, optimality "
            f"{self._conditioning.optimality}, cfg {self._conditioning.cfg_scale}")

    # ---- inputs ------------------------------------------------------------------------

    def _on_joint_states(self, msg: JointState) -> None:
        stamp = stamp_to_seconds(msg.header.stamp)
        if self._last_reference is not None and stamp <= self._last_reference:
            self._report("joint_states", f"{topics.JOINT_STATES} stamp {stamp:.6f} is not newer than "
                         f"the last tick ({self._last_reference:.6f}); ignored")
            return
        try:
            positions = self._layout.joint_vector(positions_by_name(msg, self._layout.joint_names))
        except (MissingJoints, ValueError) as error:
            self._report("joint_states", f"{topics.JOINT_STATES} rejected, no command: {error}")
            return
        if self._pending is not None:
            self._drop_pending()
        self._sync.update(JOINT_STREAM, stamp, positions)
        self._pending = (stamp, msg.header.stamp)
        self._try_tick()

    def _on_object_state(self, msg: JointState) -> None:
        try:
            values = (positions_by_name(msg, self._layout.object_names)
                      if self._layout.object_names else np.asarray(msg.position, float))
            values = self._layout.object_vector(values)
        except (MissingJoints, ValueError) as error:
            self._report("object_state", f"{topics.SIM_OBJECT_STATE} rejected: {error}")
            return
        self._update(OBJECT_STREAM, msg.header.stamp, values)

    def _on_image(self, camera: str, msg: Image) -> None:
        try:
            rgb = self._layout.image(camera, to_rgb(image_array(msg), msg.encoding))
        except (UnsupportedEncoding, MalformedImage, ObservationError) as error:
            self._report(image_stream(camera), f"{topics.camera_topic(camera)} rejected: {error}")
            return
        self._update(image_stream(camera), msg.header.stamp, rgb)

    def _update(self, stream: str, stamp, value) -> None:
        if not self._sync.update(stream, stamp_to_seconds(stamp), value):
            self._report(stream, f"{stream}: message stamped before the latest one; ignored")
            return
        self._try_tick()

    def _on_episode_event(self, msg: EpisodeEvent) -> None:
        if msg.event == EpisodeEvent.EVENT_START:
            # A new episode may restart the publishers' clocks: forget the streams too.
            self._reset(f"episode {msg.episode_id!r} started", forget_streams=True)

    def _on_intervention_state(self, msg: InterventionState) -> None:
        if msg.edge == InterventionState.EDGE_HANDBACK:
            self._reset("control handed back to the policy", forget_streams=False)

    # ---- the tick ----------------------------------------------------------------------

    def _try_tick(self) -> None:
        if self._pending is None:
            return
        stamp, stamp_msg = self._pending
        now = self.get_clock().now().nanoseconds * 1e-9
        assembly = self._sync.assemble(stamp, now=now)
        if not assembly.ok:
            self._pending_reason = assembly.reason
            if not assembly.pending:
                self._drop_pending()
            return
        self._pending, self._last_reference = None, stamp
        out = self._scheduler.tick(self._layout.observation(assembly.values, stamp_msg))
        self.ticks += 1
        if out.error is not None:
            self._inference_failing = True
            self._report("inference", f"inference failed (no command until a chunk arrives): "
                         f"{out.error}")
        if out.arrived is not None:
            self._inference_failing = False
            self._publish_chunk(out.arrived, stamp_msg)
        if command_is_valid(out, self._inference_failing):
            self._command_pub.publish(self._command_out.fill(out.target[self._order], stamp_msg))
            self.commands_published += 1

    def _drop_pending(self) -> None:
        stamp, _ = self._pending
        self._pending, self._last_reference = None, stamp
        self.dropped_ticks += 1
        self._report("observation", f"no command for /joint_states {stamp:.6f}: "
                     f"{self._pending_reason}")

    def _publish_chunk(self, record, stamp_msg) -> None:
        if not record.executed:
            self._report("late_chunk", f"chunk {record.chunk_id} arrived {record.delay_steps} "
                         f"ticks after its observation, past its horizon {record.horizon}; "
                         "consider a larger request_threshold")
        msg = ActionChunk()
        msg.header.stamp = stamp_msg
        msg.observation_stamp = record.observation_stamp
        for name, value in chunk_fields(record, self._runner.spec, self._order,
                                        self._conditioning).items():
            setattr(msg, name, value)
        self._chunk_pub.publish(msg)
        self.chunks_published += 1

    def _reset(self, why: str, forget_streams: bool) -> None:
        self._scheduler.reset()
        self._pending, self._inference_failing = None, False
        if forget_streams:
            self._sync.clear()
            self._last_reference = None
        self.get_logger().info(f"scheduler reset: {why}")

    def _report(self, kind: str, message: str) -> None:
        """Remember the problem and log it, at most once per log_period per kind."""
        self.recent_problems.append((kind, message))
        suppressed = self._throttle.admit(kind, time.monotonic())
        if suppressed is not None:
            more = f" ({suppressed} more since the last report)" if suppressed else ""
            self.get_logger().warning(message + more)

    def close(self) -> None:
        """Stop the inference worker."""
        if not self._closed:
            self._closed = True
            self._scheduler.close()


def main(args=None):
    sys.exit(run_node(lambda: PolicyServer(), args))


if __name__ == "__main__":
    main()
