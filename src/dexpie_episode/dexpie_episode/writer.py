"""EpisodeWriter: writes one episode as one rosbag2/MCAP bag, crash-safely.

Used in-process by the simulation collection and by the ROS recorder node (which converts
messages to plain values at its edge). See layout.py for the staging/rename protocol.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.interfaces import Connection

from . import layout
from .messages import MessageFactory
from .metadata import encode_custom_data
from .schema import (
    ACTION_CHUNK_TYPE,
    EPISODE_EVENT_TYPE,
    EPISODE_ID_PATTERN,
    EVENT_END,
    EVENT_INCOMPLETE,
    EVENT_STAGE,
    EVENT_START,
    FINAL_OUTCOMES,
    IMAGE_TYPE,
    INTERVENTION_STATE_TYPE,
    JOINT_STATE_TYPE,
    OUTCOME_UNKNOWN,
    TOPIC_ACTION_CHUNK,
    TOPIC_EPISODE_EVENTS,
    TOPIC_HAND_COMMAND,
    TOPIC_INTERVENTION_STATE,
    TOPIC_JOINT_STATES,
    TOPIC_OBJECT_STATE,
    TOPIC_POLICY_COMMAND,
    ActionChunkRecord,
    EpisodeMeta,
    camera_topic,
)
from .typestore import episode_typestore
from .validation import camera_images, enum_value, finite_matrix, finite_vector, unsigned

LOG = logging.getLogger(__name__)

_SOURCES = (0, 1, 2)
_EDGES = (0, 1, 2, 3)
_REASONS = (0, 1, 2, 3, 4, 5, 6)


class EpisodeWriter:
    """Write one episode. Call write_tick once per control tick, then close(outcome).

    As a context manager, leaving the block without close() (normally or by an exception)
    sets the episode aside as `<id>.incomplete`, never as a finished episode.
    """

    def __init__(
        self,
        root_dir: Path | str,
        meta: EpisodeMeta,
        episode_id: str | None = None,
        *,
        durable: bool = True,
        ros_distro: str | None = None,
    ) -> None:
        """durable: fsync the bag before publishing it (survives power loss, not only a kill).
        ros_distro: the `ros_distro` of metadata.yaml (e.g. "jazzy" for the live recorder);
        None leaves the writer library's ("rosbags": written without a ROS runtime)."""
        self.root_dir = Path(root_dir)
        self.meta = meta
        self.episode_id = episode_id or layout.new_episode_id(meta.task, meta.stage)
        if not EPISODE_ID_PATTERN.match(self.episode_id):
            raise ValueError(
                f"episode_id {self.episode_id!r} must match {EPISODE_ID_PATTERN.pattern}"
            )
        self._durable = durable
        self._ros_distro = ros_distro
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.finished_path = layout.finished_bag_dir(self.root_dir, self.episode_id)
        for taken in (self.finished_path, layout.incomplete_dir(self.root_dir, self.episode_id)):
            if taken.exists():
                raise FileExistsError(f"episode {self.episode_id} already exists at {taken}")
        self._staging = layout.staging_dir(self.root_dir, self.episode_id)
        self._staging.mkdir()  # fails if another writer uses this id: never share a staging dir
        self._lock_fd = layout.acquire_writer_lock(self._staging)

        self._messages = MessageFactory(episode_typestore())
        self._bag = Writer(
            layout.staged_bag_dir(self.root_dir, self.episode_id),
            version=9,
            storage_plugin=StoragePlugin.MCAP,
        )
        self._bag.open()
        self._connections: dict[str, Connection] = {}
        for topic, msgtype in self._eager_topics():
            self._connection(topic, msgtype)

        self.num_ticks = 0
        self._last_stamp_ns: int | None = None
        self._started = False
        self._closed = False
        self._image_shapes: dict[str, tuple[int, ...]] = {}

    # ---- topics --------------------------------------------------------------------------
    def _eager_topics(self) -> list[tuple[str, str]]:
        # Topics every tick writes to exist from the start. /policy/command and
        # /policy/action_chunk are created on first use, so a demonstration episode has no
        # such topic at all (which is how the reader tells "no policy" from "policy idle").
        topics = [
            (TOPIC_EPISODE_EVENTS, EPISODE_EVENT_TYPE),
            (TOPIC_JOINT_STATES, JOINT_STATE_TYPE),
            (TOPIC_HAND_COMMAND, JOINT_STATE_TYPE),
            (TOPIC_INTERVENTION_STATE, INTERVENTION_STATE_TYPE),
        ]
        if self.meta.object_names:
            topics.append((TOPIC_OBJECT_STATE, JOINT_STATE_TYPE))
        topics += [(camera_topic(name), IMAGE_TYPE) for name in self.meta.cameras]
        return topics

    def _connection(self, topic: str, msgtype: str) -> Connection:
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._bag.add_connection(topic, msgtype, typestore=episode_typestore())
            self._connections[topic] = connection
        return connection

    def _write(self, topic: str, msgtype: str, stamp_ns: int, data: bytes) -> None:
        self._bag.write(self._connection(topic, msgtype), stamp_ns, data)

    # ---- events --------------------------------------------------------------------------
    def _write_event(
        self,
        stamp_ns: int,
        event: int,
        stage: str,
        outcome: int = OUTCOME_UNKNOWN,
        detail: str = "",
    ) -> None:
        data = self._messages.episode_event(
            stamp_ns,
            event=event,
            episode_id=self.episode_id,
            task=self.meta.task,
            stage=stage,
            outcome=outcome,
            seed=self.meta.seed,
            bag_path=str(self.finished_path),
            detail=detail,
        )
        self._write(TOPIC_EPISODE_EVENTS, EPISODE_EVENT_TYPE, stamp_ns, data)

    def _ensure_started(self, stamp_ns: int) -> None:
        # START carries the first stamp of the episode, which is only known now.
        if not self._started:
            self._write_event(stamp_ns, EVENT_START, self.meta.stage, detail=self.meta.note)
            self._started = True

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"episode {self.episode_id} is already closed")

    # ---- public API ----------------------------------------------------------------------
    def write_tick(
        self,
        stamp_ns: int,
        joint_positions: Sequence[float] | np.ndarray,
        joint_velocities: Sequence[float] | np.ndarray,
        command: Sequence[float] | np.ndarray,
        object_state: Sequence[float] | np.ndarray | None = None,
        policy_command: Sequence[float] | np.ndarray | None = None,
        source: int = 0,
        edge: int = 0,
        reason: int = 0,
        intervention_id: int = 0,
        images: Mapping[str, np.ndarray] | None = None,
        human_idle_time: float = 0.0,
        detail: str = "",
    ) -> None:
        """Record one control tick; all streams get the same stamp (nanoseconds)."""
        self._check_open()
        stamp_ns = unsigned("stamp_ns", stamp_ns, 63)
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            raise ValueError(
                f"stamp_ns {stamp_ns} is not after the previous tick's {self._last_stamp_ns}"
            )
        joints = self.meta.joint_names
        positions = finite_vector("joint_positions", joint_positions, joints)
        velocities = finite_vector("joint_velocities", joint_velocities, joints)
        hand_command = finite_vector("command", command, joints)
        proposed = (
            None
            if policy_command is None
            else finite_vector("policy_command", policy_command, joints)
        )
        if self.meta.object_names:
            if object_state is None:
                raise ValueError(
                    f"object_state is required (object names {list(self.meta.object_names)})"
                )
            objects = finite_vector("object_state", object_state, self.meta.object_names)
        elif object_state is not None and len(object_state) > 0:
            raise ValueError("object_state given but the episode has no object_names")
        frames = camera_images(images, self.meta.cameras, self._image_shapes)
        source = enum_value("source", source, _SOURCES)
        edge = enum_value("edge", edge, _EDGES)
        reason = enum_value("reason", reason, _REASONS)
        intervention_id = unsigned("intervention_id", intervention_id, 32)
        human_idle_time = float(human_idle_time)

        self._ensure_started(stamp_ns)
        make = self._messages
        self._write(
            TOPIC_JOINT_STATES,
            JOINT_STATE_TYPE,
            stamp_ns,
            make.joint_state(stamp_ns, joints, positions, velocities),
        )
        if self.meta.object_names:
            self._write(
                TOPIC_OBJECT_STATE,
                JOINT_STATE_TYPE,
                stamp_ns,
                make.joint_state(stamp_ns, self.meta.object_names, objects),
            )
        for name, pixels in frames.items():
            self._image_shapes[name] = pixels.shape
            self._write(
                camera_topic(name), IMAGE_TYPE, stamp_ns, make.image_rgb8(stamp_ns, name, pixels)
            )
        if proposed is not None:
            self._write(
                TOPIC_POLICY_COMMAND,
                JOINT_STATE_TYPE,
                stamp_ns,
                make.joint_state(stamp_ns, joints, proposed),
            )
        intervention = make.intervention_state(
            stamp_ns,
            source=source,
            edge=edge,
            reason=reason,
            intervention_id=intervention_id,
            tick=self.num_ticks,
            human_idle_time=human_idle_time,
            detail=detail,
        )
        self._write(TOPIC_INTERVENTION_STATE, INTERVENTION_STATE_TYPE, stamp_ns, intervention)
        # The tick message goes last: a reader that sees a tick has seen its observations.
        self._write(
            TOPIC_HAND_COMMAND,
            JOINT_STATE_TYPE,
            stamp_ns,
            make.joint_state(stamp_ns, joints, hand_command),
        )
        self.num_ticks += 1
        self._last_stamp_ns = stamp_ns

    def write_chunk(
        self,
        stamp_ns: int,
        chunk_id: int,
        observation_stamp_ns: int,
        anchor: Sequence[float] | np.ndarray,
        actions: np.ndarray,
        targets: np.ndarray,
        *,
        joint_names: Sequence[str] | None = None,
        group_names: Sequence[str] = (),
        group_representations: Sequence[str] = (),
        group_joint_names: Sequence[str] = (),
        delay_steps: int = 0,
        start_index: int = 0,
        inference_latency: float = 0.0,
        optimality: float = float("nan"),
        cfg_scale: float = 1.0,
    ) -> None:
        """Record a dexpie_msgs/ActionChunk. actions: (H, action_dim); targets: (H, J)."""
        self._check_open()
        names = tuple(self.meta.joint_names if joint_names is None else joint_names)
        anchor_array = finite_vector("chunk anchor", anchor, names)
        actions_array = finite_matrix("chunk actions", actions)
        targets_array = finite_matrix("chunk targets", targets, columns=len(names))
        if actions_array.shape[0] != targets_array.shape[0]:
            raise ValueError(
                f"chunk actions have {actions_array.shape[0]} rows but targets "
                f"{targets_array.shape[0]}: both must have horizon rows"
            )
        if len(group_names) != len(group_representations):
            raise ValueError("group_names and group_representations must have the same length")
        chunk = ActionChunkRecord(
            stamp_ns=unsigned("stamp_ns", stamp_ns, 63),
            chunk_id=unsigned("chunk_id", chunk_id, 64),
            observation_stamp_ns=unsigned("observation_stamp_ns", observation_stamp_ns, 63),
            joint_names=names,
            anchor=anchor_array,
            actions=actions_array,
            targets=targets_array,
            group_names=tuple(group_names),
            group_representations=tuple(group_representations),
            group_joint_names=tuple(group_joint_names),
            delay_steps=unsigned("delay_steps", delay_steps, 32),
            start_index=unsigned("start_index", start_index, 32),
            inference_latency=float(inference_latency),
            optimality=float(optimality),
            cfg_scale=float(cfg_scale),
        )
        self._ensure_started(chunk.stamp_ns)
        self._write(
            TOPIC_ACTION_CHUNK,
            ACTION_CHUNK_TYPE,
            chunk.stamp_ns,
            self._messages.action_chunk(chunk),
        )

    def write_stage(self, stamp_ns: int, stage: str) -> None:
        """Record that the task reached a named stage."""
        self._check_open()
        if not stage:
            raise ValueError("stage name must not be empty")
        stamp_ns = unsigned("stamp_ns", stamp_ns, 63)
        self._ensure_started(stamp_ns)
        self._write_event(stamp_ns, EVENT_STAGE, stage)

    def close(self, outcome: int, note: str | None = None, stamp_ns: int | None = None) -> Path:
        """Finish with an outcome label (OUTCOME_SUCCESS/FAILURE/ABORTED); returns the bag path."""
        self._check_open()
        outcome = enum_value("outcome", outcome, FINAL_OUTCOMES)
        if self.num_ticks == 0:
            self.abort("closed without any control tick")
            raise ValueError(
                f"episode {self.episode_id} has no control ticks; set aside as incomplete"
            )
        if note is not None:
            self.meta = dataclasses.replace(self.meta, note=note)
        end_stamp = self._last_stamp_ns if stamp_ns is None else unsigned("stamp_ns", stamp_ns, 63)
        self._write_event(
            end_stamp, EVENT_END, self.meta.stage, outcome=outcome, detail=self.meta.note
        )
        for key, value in encode_custom_data(
            self.meta, self.episode_id, outcome, self.num_ticks
        ).items():
            self._bag.set_custom_data(key, value)
        self._bag.close()
        self._stamp_ros_distro()
        self._closed = True
        layout.publish_staged_bag(self.root_dir, self.episode_id, durable=self._durable)
        layout.release_writer_lock(self._lock_fd)
        shutil.rmtree(self._staging, ignore_errors=True)
        return self.finished_path

    def _stamp_ros_distro(self) -> None:
        """metadata.yaml's ros_distro as given (the library writes its own name there)."""
        if self._ros_distro is None:
            return
        path = layout.staged_bag_dir(self.root_dir, self.episode_id) / "metadata.yaml"
        text = path.read_text()
        marker = "  ros_distro: rosbags\n"
        if marker not in text:
            raise RuntimeError(f"{path}: no '{marker.strip()}' line to set (rosbags changed its metadata layout)")
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text.replace(marker, f"  ros_distro: {self._ros_distro}\n", 1))
        tmp.replace(path)

    def abort(self, reason: str) -> Path:
        """Stop without an outcome: the episode is set aside as `<id>.incomplete`."""
        self._check_open()
        self._closed = True
        try:
            if self._last_stamp_ns is not None:
                self._write_event(
                    self._last_stamp_ns, EVENT_INCOMPLETE, self.meta.stage, detail=reason
                )
            for key, value in encode_custom_data(
                self.meta, self.episode_id, OUTCOME_UNKNOWN, self.num_ticks
            ).items():
                self._bag.set_custom_data(key, value)
            self._bag.set_custom_data("dexpie.incomplete_reason", reason)
            self._bag.close()
            self._stamp_ros_distro()
        except Exception:  # the bag may be the reason we abort; keep what is on disk
            LOG.exception("could not close the bag of aborted episode %s", self.episode_id)
            with contextlib.suppress(Exception):
                self._bag.abort()
        layout.release_writer_lock(self._lock_fd)
        target = layout.incomplete_dir(self.root_dir, self.episode_id)
        os.rename(self._staging, target)
        LOG.warning("episode %s set aside as incomplete (%s): %s", self.episode_id, reason, target)
        return target

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        if self._closed:
            return
        if exc is not None:
            self.abort(f"exception while writing: {exc!r}")
        else:
            self.abort("left the writer's context without close(outcome)")
