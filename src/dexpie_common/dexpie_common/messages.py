"""Conversions between numpy and the standard messages the nodes exchange (the ROS edge).

Joint states are matched by name, never by position: `positions_by_name` reorders a
JointState into the order a node was configured with and names what is missing.

They run on every control tick, in every node of the chain, so they avoid what costs there
(benchmarks/control_tick_profile.py): the name -> index map of a joint order is computed
once per (message order, wanted order) pair, not per message; values go to and from the
messages' float arrays (array.array('d')) as whole buffers, not element by element through
the generated setters' per-element checks; and `JointStateOut` keeps one JointState per
publisher whose names are set once.
"""
from __future__ import annotations

import array
from functools import lru_cache
from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image, JointState

from dexpie_common.image_codec import decode_image, encode_image


class MissingJoints(ValueError):
    pass


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def stamp_to_ns(stamp: Time) -> int:
    """A stamp as integer nanoseconds: exact, where float seconds of a date lose ~200 ns."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def seconds_to_stamp(seconds: float) -> Time:
    sec = int(np.floor(seconds))
    return Time(sec=sec, nanosec=min(int(round((seconds - sec) * 1e9)), 999_999_999))


def doubles(values) -> array.array:
    """A float64 array.array (a message's float64[] field) from any array-like, in one copy."""
    return array.array("d", np.ascontiguousarray(values, dtype=np.float64).ravel().tobytes())


def joint_state_msg(names: Sequence[str], positions, stamp: Time, velocities=None) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.name = list(names)
    msg.position = doubles(positions)
    if velocities is not None:
        msg.velocity = doubles(velocities)
    return msg


class JointStateOut:
    """One JointState for a publisher with a fixed joint order, reused for every message: the
    names are set once, each `fill` sets the stamp and the values (publish serializes the
    message at once, so it may be refilled right after)."""

    def __init__(self, names: Sequence[str]):
        self.msg = JointState()
        self.msg.name = list(names)

    def fill(self, positions, stamp: Time, velocities=None) -> JointState:
        self.msg.header.stamp = stamp
        self.msg.position = doubles(positions)
        if velocities is not None:
            self.msg.velocity = doubles(velocities)
        return self.msg


@lru_cache(maxsize=256)
def _index(message_names: tuple[str, ...], names: tuple[str, ...]) -> np.ndarray | str:
    """Indices of `names` in `message_names`, or the text of the MissingJoints error."""
    index = {name: i for i, name in enumerate(message_names)}
    missing = [name for name in names if name not in index]
    if missing:
        return f"JointState lacks joint(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}"
    return np.array([index[name] for name in names], dtype=np.intp)


def positions_by_name(msg: JointState, names: Sequence[str], field: str = "position") -> np.ndarray:
    """The message's `field` values in the order of `names` ((len(names),) float array).

    Raises MissingJoints naming the absent joints, or ValueError when the message's arrays
    are inconsistent. Values are returned as sent (NaN checks belong to the consumer's core).
    """
    values = getattr(msg, field)
    if len(values) != len(msg.name):
        raise ValueError(f"JointState has {len(msg.name)} names but {len(values)} {field} values")
    index = _index(tuple(msg.name), tuple(names))
    if isinstance(index, str):
        raise MissingJoints(index)
    return np.asarray(values, dtype=float)[index]


def image_msg(array: np.ndarray, encoding: str, stamp: Time, frame_id: str = "") -> Image:
    fields = encode_image(array, encoding)
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = fields["height"], fields["width"]
    msg.encoding, msg.is_bigendian, msg.step = fields["encoding"], fields["is_bigendian"], fields["step"]
    msg.data = fields["data"]
    return msg


def image_array(msg: Image) -> np.ndarray:
    """(H, W, C) array of an Image message (UnsupportedEncoding / MalformedImage on bad input)."""
    return decode_image(msg.height, msg.width, msg.encoding, bool(msg.is_bigendian), msg.step,
                        bytes(msg.data))
