"""Fast CDR encode/decode of sensor_msgs/JointState for one fixed list of joint names.

Three JointStates per control tick dominate an episode, and rosbags' generic (de)serializer
spends most of its ~30 us per message on the name strings, which never change within an
episode. With fixed names and an empty frame_id every byte offset in the message is fixed,
so a message is a template with the stamp and the float arrays patched in.

Correctness does not rest on hand-computed CDR rules: the template and the offsets are
derived from rosbags' own serializer and checked against it when a codec is built (a codec
that fails the check is not used). Decoding compares every non-float byte with the template
(encapsulation, frame_id, names, sequence lengths, padding); any difference, e.g. another
name order or a filled `effort`, returns None and the caller uses the generic path.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence

import numpy as np
from .schema import JOINT_STATE_TYPE
from .typestore import jazzy_typestore as _jazzy

_STAMP = struct.Struct("<iI")
_STAMP_OFFSET = 4  # after the 4-byte CDR encapsulation header


@functools.cache
def jazzy_joint_state_definition() -> str:
    """The JointState definition text as rosbag2 stores it (and rosbags writes it)."""
    return _jazzy().generate_msgdef(JOINT_STATE_TYPE, ros_version=2)[0]


class JointStateCodec:
    """Encode/decode JointState messages with these names, empty frame_id and no effort."""

    def __init__(self, names: Sequence[str], with_velocity: bool) -> None:
        self.names = tuple(names)
        self.with_velocity = with_velocity
        count = len(self.names)
        if count == 0:
            raise RuntimeError("no fast path for an empty name list")
        self._position_offset, self._velocity_offset = self._find_offsets(count)
        zeros = np.zeros(count)
        self._template = self._serialize_generic(0, zeros, zeros if with_velocity else None)
        # Bytes that are neither the stamp nor float data must match the template exactly.
        float_bytes = 8 * count
        spans = [(0, _STAMP_OFFSET), (_STAMP_OFFSET + _STAMP.size, self._position_offset)]
        if with_velocity:
            spans.append((self._position_offset + float_bytes, self._velocity_offset))
            spans.append((self._velocity_offset + float_bytes, len(self._template)))
        else:
            spans.append((self._position_offset + float_bytes, len(self._template)))
        self._fixed_spans = [(a, b, self._template[a:b]) for a, b in spans]
        self._self_check()

    def _serialize_generic(
        self, stamp_ns: int, position: np.ndarray, velocity: np.ndarray | None
    ) -> bytes:
        types = _jazzy().types
        sec, nanosec = divmod(stamp_ns, 1_000_000_000)
        message = types[JOINT_STATE_TYPE](
            header=types["std_msgs/msg/Header"](
                stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=""
            ),
            name=list(self.names),
            position=position,
            velocity=np.zeros(0) if velocity is None else velocity,
            effort=np.zeros(0),
        )
        return bytes(_jazzy().serialize_cdr(message, JOINT_STATE_TYPE))

    def _find_offsets(self, count: int) -> tuple[int, int]:
        """Locate the float arrays in rosbags' output using distinctive marker values."""
        position_marker = np.full(count, 1.2345678901234567e300)
        velocity_marker = np.full(count, -9.876543210987654e299)
        raw = self._serialize_generic(
            0, position_marker, velocity_marker if self.with_velocity else None
        )
        position_offset = raw.find(position_marker.astype("<f8").tobytes())
        velocity_offset = (
            raw.find(velocity_marker.astype("<f8").tobytes()) if self.with_velocity else -1
        )
        if position_offset < 0 or (self.with_velocity and velocity_offset < 0):
            raise RuntimeError("cannot locate JointState arrays in rosbags' serialization")
        return position_offset, velocity_offset

    def _self_check(self) -> None:
        rng = np.random.default_rng(0)
        position = rng.normal(size=len(self.names))
        velocity = rng.normal(size=len(self.names)) if self.with_velocity else None
        stamp = 1_234_567_890_123_456_789
        expected = self._serialize_generic(stamp, position, velocity)
        if self.encode(stamp, position, velocity) != expected:
            raise RuntimeError("JointStateCodec disagrees with rosbags' serializer")
        decoded = self.decode(expected)
        if decoded is None or decoded[0] != stamp or not np.array_equal(decoded[1], position):
            raise RuntimeError("JointStateCodec cannot decode rosbags' serialization")

    def encode(
        self, stamp_ns: int, position: np.ndarray, velocity: np.ndarray | None = None
    ) -> bytes:
        buffer = bytearray(self._template)
        _STAMP.pack_into(buffer, _STAMP_OFFSET, *divmod(stamp_ns, 1_000_000_000))
        count = len(self.names)
        start = self._position_offset
        buffer[start : start + 8 * count] = np.asarray(position, dtype="<f8").tobytes()
        if self.with_velocity:
            start = self._velocity_offset
            buffer[start : start + 8 * count] = np.asarray(velocity, dtype="<f8").tobytes()
        return bytes(buffer)

    def decode(self, raw: bytes | memoryview) -> tuple[int, np.ndarray, np.ndarray | None] | None:
        """(stamp_ns, position, velocity) or None when the message does not fit the template."""
        if len(raw) != len(self._template):
            return None
        for start, end, expected in self._fixed_spans:
            if raw[start:end] != expected:
                return None
        sec, nanosec = _STAMP.unpack_from(raw, _STAMP_OFFSET)
        count = len(self.names)
        position = np.frombuffer(raw, dtype="<f8", count=count, offset=self._position_offset)
        velocity = (
            np.frombuffer(raw, dtype="<f8", count=count, offset=self._velocity_offset)
            if self.with_velocity
            else None
        )
        return sec * 1_000_000_000 + nanosec, position, velocity


@functools.lru_cache(maxsize=64)
def joint_state_codec(names: tuple[str, ...], with_velocity: bool) -> JointStateCodec | None:
    """A verified codec, or None if this name list cannot use the fast path."""
    try:
        return JointStateCodec(names, with_velocity)
    except RuntimeError:
        return None
