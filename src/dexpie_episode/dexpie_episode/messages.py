"""Build rosbags message objects from plain values and serialize them to CDR.

Only the writer uses this; the reader gets the classes from the definitions in the bag.
rosbags' own serializer pads exactly as the CDR spec requires, so the trailing-padding
pitfall of rclpy-serialized messages (which rosbags refuses) does not arise here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rosbags.typesys.store import Typestore

from .joint_state_cdr import joint_state_codec
from .schema import (
    ACTION_CHUNK_TYPE,
    EPISODE_EVENT_TYPE,
    IMAGE_ENCODING,
    IMAGE_TYPE,
    INTERVENTION_STATE_TYPE,
    JOINT_STATE_TYPE,
    ActionChunkRecord,
)

_EMPTY_FLOAT64 = np.zeros(0, dtype=np.float64)


class MessageFactory:
    """Holds the message classes of one typestore and turns values into CDR bytes."""

    def __init__(self, typestore: Typestore) -> None:
        self._typestore = typestore
        types = typestore.types
        self._time = types["builtin_interfaces/msg/Time"]
        self._header = types["std_msgs/msg/Header"]
        self._joint_state = types[JOINT_STATE_TYPE]
        self._image = types[IMAGE_TYPE]
        self._intervention_state = types[INTERVENTION_STATE_TYPE]
        self._episode_event = types[EPISODE_EVENT_TYPE]
        self._action_chunk = types[ACTION_CHUNK_TYPE]

    def time(self, stamp_ns: int) -> object:
        sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
        return self._time(sec=sec, nanosec=nanosec)

    def header(self, stamp_ns: int, frame_id: str = "") -> object:
        return self._header(stamp=self.time(stamp_ns), frame_id=frame_id)

    def _serialize(self, message: object, typename: str) -> bytes:
        return bytes(self._typestore.serialize_cdr(message, typename))

    def joint_state(
        self,
        stamp_ns: int,
        names: Sequence[str],
        position: np.ndarray,
        velocity: np.ndarray | None = None,
    ) -> bytes:
        codec = joint_state_codec(tuple(names), velocity is not None)
        if codec is not None:
            return codec.encode(stamp_ns, position, velocity)
        message = self._joint_state(
            header=self.header(stamp_ns),
            name=list(names),
            position=position,
            velocity=_EMPTY_FLOAT64 if velocity is None else velocity,
            effort=_EMPTY_FLOAT64,
        )
        return self._serialize(message, JOINT_STATE_TYPE)

    def image_rgb8(self, stamp_ns: int, frame_id: str, pixels: np.ndarray) -> bytes:
        height, width, _ = pixels.shape
        message = self._image(
            header=self.header(stamp_ns, frame_id),
            height=height,
            width=width,
            encoding=IMAGE_ENCODING,
            is_bigendian=0,
            step=width * 3,
            data=np.ascontiguousarray(pixels).reshape(-1),
        )
        return self._serialize(message, IMAGE_TYPE)

    def intervention_state(
        self,
        stamp_ns: int,
        *,
        source: int,
        edge: int,
        reason: int,
        intervention_id: int,
        tick: int,
        human_idle_time: float,
        detail: str,
    ) -> bytes:
        message = self._intervention_state(
            header=self.header(stamp_ns),
            source=source,
            edge=edge,
            reason=reason,
            intervention_id=intervention_id,
            tick=tick,
            human_idle_time=float(human_idle_time),
            detail=detail,
        )
        return self._serialize(message, INTERVENTION_STATE_TYPE)

    def episode_event(
        self,
        stamp_ns: int,
        *,
        event: int,
        episode_id: str,
        task: str,
        stage: str,
        outcome: int,
        seed: int,
        bag_path: str,
        detail: str,
    ) -> bytes:
        message = self._episode_event(
            header=self.header(stamp_ns),
            event=event,
            episode_id=episode_id,
            task=task,
            stage=stage,
            outcome=outcome,
            seed=seed,
            bag_path=bag_path,
            detail=detail,
        )
        return self._serialize(message, EPISODE_EVENT_TYPE)

    def action_chunk(self, chunk: ActionChunkRecord) -> bytes:
        message = self._action_chunk(
            header=self.header(chunk.stamp_ns),
            chunk_id=int(chunk.chunk_id),
            observation_stamp=self.time(chunk.observation_stamp_ns),
            joint_names=list(chunk.joint_names),
            anchor=np.asarray(chunk.anchor, dtype=np.float64),
            group_names=list(chunk.group_names),
            group_representations=list(chunk.group_representations),
            group_joint_names=list(chunk.group_joint_names),
            horizon=chunk.horizon,
            action_dim=chunk.action_dim,
            actions=np.ascontiguousarray(chunk.actions, dtype=np.float64).reshape(-1),
            targets=np.ascontiguousarray(chunk.targets, dtype=np.float64).reshape(-1),
            delay_steps=int(chunk.delay_steps),
            start_index=int(chunk.start_index),
            inference_latency=float(chunk.inference_latency),
            optimality=np.float32(chunk.optimality),
            cfg_scale=np.float32(chunk.cfg_scale),
        )
        return self._serialize(message, ACTION_CHUNK_TYPE)
