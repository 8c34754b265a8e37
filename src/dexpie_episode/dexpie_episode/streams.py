"""Per-topic accumulation of deserialized messages, and alignment onto the control ticks.

Each stream keeps header stamps and values in arrival order; `align` maps every control
tick to the latest message with stamp <= the tick's stamp, if that message is recent enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .schema import IMAGE_ENCODING, EpisodeFormatError


def stamp_ns(header: object) -> int:
    stamp = header.stamp  # type: ignore[attr-defined]
    return stamp.sec * 1_000_000_000 + stamp.nanosec


@dataclass
class Stream:
    """Stamps and decoded values of one topic."""

    topic: str
    stamps: list[int] = field(default_factory=list)
    values: list[object] = field(default_factory=list)

    def add(self, stamp: int, value: object) -> None:
        self.stamps.append(stamp)
        self.values.append(value)

    def __len__(self) -> int:
        return len(self.stamps)


class JointStateDecoder:
    """Checks a JointState's names against the metadata and returns its arrays."""

    def __init__(self, path: Path, topic: str, names: tuple[str, ...], with_velocity: bool) -> None:
        self._path = path
        self._topic = topic
        self._names = list(names)
        self._with_velocity = with_velocity

    def __call__(self, message: object) -> tuple[np.ndarray, np.ndarray | None]:
        names = message.name  # type: ignore[attr-defined]
        if names != self._names:
            raise EpisodeFormatError(
                self._path,
                f"joint names on {self._topic} {names} differ from the metadata {self._names}",
            )
        position = message.position  # type: ignore[attr-defined]
        if len(position) != len(names):
            raise EpisodeFormatError(
                self._path, f"{self._topic}: {len(position)} positions for {len(names)} names"
            )
        if not self._with_velocity:
            return position, None
        velocity = message.velocity  # type: ignore[attr-defined]
        if len(velocity) != len(names):
            raise EpisodeFormatError(
                self._path, f"{self._topic}: {len(velocity)} velocities for {len(names)} names"
            )
        return position, velocity


def decode_rgb8(path: Path, topic: str, message: object) -> np.ndarray:
    """sensor_msgs/Image rgb8 -> HxWx3 uint8 (a view on the message buffer)."""
    encoding = message.encoding  # type: ignore[attr-defined]
    if encoding != IMAGE_ENCODING:
        raise EpisodeFormatError(
            path, f"{topic}: encoding {encoding!r}, expected {IMAGE_ENCODING!r}"
        )
    height, width, step = message.height, message.width, message.step  # type: ignore[attr-defined]
    data = np.asarray(message.data, dtype=np.uint8)  # type: ignore[attr-defined]
    if step < width * 3 or data.size != height * step:
        raise EpisodeFormatError(
            path, f"{topic}: {data.size} bytes do not fit {height}x{width} rgb8 with step {step}"
        )
    # Rows may be padded to `step` bytes; drop the padding.
    return data.reshape(height, step)[:, : width * 3].reshape(height, width, 3)


def align(
    path: Path, stream: Stream, tick_stamps: np.ndarray, tolerance_ns: int, required: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the message to use on every tick, and whether it is valid.

    A message is valid for a tick when its stamp is <= the tick stamp and not older than
    `tolerance_ns`. With `required`, a tick without a valid message is an error.
    """
    stamps = np.asarray(stream.stamps, dtype=np.int64)
    if stamps.size and np.any(np.diff(stamps) < 0):
        # Log order and header order can differ on a real graph; align on header stamps.
        order = np.argsort(stamps, kind="stable")
        stream.stamps = [stream.stamps[i] for i in order]
        stream.values = [stream.values[i] for i in order]
        stamps = stamps[order]
    index = np.searchsorted(stamps, tick_stamps, side="right") - 1
    clipped = np.clip(index, 0, None)
    valid = (index >= 0) & (stamps.size > 0)
    if stamps.size:
        valid &= (tick_stamps - stamps[clipped]) <= tolerance_ns
    if required and not valid.all():
        first_bad = int(np.flatnonzero(~valid)[0])
        raise EpisodeFormatError(
            path,
            f"{int((~valid).sum())} of {tick_stamps.size} ticks have no {stream.topic} message "
            f"within {tolerance_ns / 1e6:.1f} ms before them (first: tick {first_bad})",
        )
    return clipped, valid


def stack_rows(values: list[object], index: np.ndarray, columns: int) -> np.ndarray:
    """(T, columns) float64 from the per-message vectors selected by `index`."""
    if not values:
        return np.zeros((index.size, columns), dtype=np.float64)
    table = np.asarray(values, dtype=np.float64).reshape(len(values), columns)
    return table[index]
