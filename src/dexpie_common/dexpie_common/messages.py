"""Conversions between numpy and the standard messages the nodes exchange (the ROS edge).

Joint states are matched by name, never by position: `positions_by_name` reorders a
JointState into the order a node was configured with and names what is missing.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image, JointState

from dexpie_common.image_codec import decode_image, encode_image


class MissingJoints(ValueError):
    pass


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    sec = int(np.floor(seconds))
    return Time(sec=sec, nanosec=min(int(round((seconds - sec) * 1e9)), 999_999_999))


def joint_state_msg(names: Sequence[str], positions, stamp: Time, velocities=None) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.name = list(names)
    msg.position = [float(v) for v in np.asarray(positions, float).ravel()]
    if velocities is not None:
        msg.velocity = [float(v) for v in np.asarray(velocities, float).ravel()]
    return msg


def positions_by_name(msg: JointState, names: Sequence[str], field: str = "position") -> np.ndarray:
    """The message's `field` values in the order of `names` ((len(names),) float array).

    Raises MissingJoints naming the absent joints, or ValueError when the message's arrays
    are inconsistent. Values are returned as sent (NaN checks belong to the consumer's core).
    """
    values = list(getattr(msg, field))
    if len(values) != len(msg.name):
        raise ValueError(f"JointState has {len(msg.name)} names but {len(values)} {field} values")
    index = {name: i for i, name in enumerate(msg.name)}
    missing = [name for name in names if name not in index]
    if missing:
        raise MissingJoints(f"JointState lacks joint(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return np.array([values[index[name]] for name in names], dtype=float)


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
