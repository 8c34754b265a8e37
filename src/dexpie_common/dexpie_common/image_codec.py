"""numpy <-> sensor_msgs/Image fields, without cv_bridge (pure: no ROS imports).

`decode_image(height, width, encoding, is_bigendian, step, data)` returns an (H, W, C)
array (C = 1 for single-channel encodings) and `encode_image(array, encoding)` returns the
fields of the message. Accepted encodings are listed in ENCODINGS; any other is rejected by
name (`UnsupportedEncoding`), never guessed. Row padding (step > width * pixel bytes) and
big-endian data are handled. Colour conversion to the policy's RGB is `to_rgb`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class UnsupportedEncoding(ValueError):
    pass


class MalformedImage(ValueError):
    pass


@dataclass(frozen=True)
class Encoding:
    dtype: str      # numpy dtype of one channel (little-endian form)
    channels: int
    order: str      # "rgb", "bgr", "rgba", "bgra", "mono"


ENCODINGS = {
    "rgb8": Encoding("u1", 3, "rgb"),
    "bgr8": Encoding("u1", 3, "bgr"),
    "rgba8": Encoding("u1", 4, "rgba"),
    "bgra8": Encoding("u1", 4, "bgra"),
    "mono8": Encoding("u1", 1, "mono"),
    "8UC1": Encoding("u1", 1, "mono"),
    "8UC3": Encoding("u1", 3, "bgr"),     # OpenCV's convention for unlabelled 3-channel data
    "mono16": Encoding("<u2", 1, "mono"),
    "16UC1": Encoding("<u2", 1, "mono"),
    "32FC1": Encoding("<f4", 1, "mono"),  # depth in metres
}


def encoding_of(name: str) -> Encoding:
    try:
        return ENCODINGS[name]
    except KeyError:
        raise UnsupportedEncoding(f"image encoding {name!r} is not supported; "
                                  f"accepted: {sorted(ENCODINGS)}") from None


def decode_image(height: int, width: int, encoding: str, is_bigendian: bool, step: int,
                 data: bytes) -> np.ndarray:
    """The message's pixels as a new (height, width, channels) array in native byte order."""
    spec = encoding_of(encoding)
    dtype = np.dtype(spec.dtype)
    if is_bigendian:
        dtype = dtype.newbyteorder(">")
    row_bytes = width * spec.channels * dtype.itemsize
    if height < 0 or width < 0:
        raise MalformedImage(f"negative image size {height}x{width}")
    if step < row_bytes:
        raise MalformedImage(f"step {step} is smaller than one row ({row_bytes} bytes for "
                             f"{width} px of {encoding})")
    if len(data) < step * height:
        raise MalformedImage(f"image data has {len(data)} bytes, expected {step * height} "
                             f"({height} rows of step {step})")
    rows = np.frombuffer(bytes(data[:step * height]), np.uint8).reshape(height, step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width, spec.channels)
    return pixels.astype(dtype.newbyteorder("="), copy=True)


def encode_image(array: np.ndarray, encoding: str) -> dict:
    """Fields of a sensor_msgs/Image for `array` ((H, W) or (H, W, C)), little-endian, no padding."""
    spec = encoding_of(encoding)
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] != spec.channels:
        raise MalformedImage(f"array of shape {array.shape} does not fit {encoding} "
                             f"({spec.channels} channel(s))")
    expected = np.dtype(spec.dtype)
    if array.dtype.kind != expected.kind or array.dtype.itemsize != expected.itemsize:
        raise MalformedImage(f"array dtype {array.dtype} does not fit {encoding} ({expected})")
    pixels = np.ascontiguousarray(array, dtype=expected)
    height, width = pixels.shape[:2]
    return {"height": int(height), "width": int(width), "encoding": encoding, "is_bigendian": 0,
            "step": int(width * spec.channels * expected.itemsize), "data": pixels.tobytes()}


def to_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a decoded colour or mono8 image (drops alpha, swaps BGR)."""
    spec = encoding_of(encoding)
    if spec.dtype != "u1":
        raise UnsupportedEncoding(f"{encoding} is not an 8-bit colour image; cannot convert to rgb8")
    if spec.order == "mono":
        return np.repeat(pixels, 3, axis=2)
    if spec.order in ("bgr", "bgra"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.ascontiguousarray(pixels[:, :, :3])
