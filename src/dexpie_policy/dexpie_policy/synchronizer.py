"""A small timestamp synchroniser for the policy's observation streams (pure: no ROS).

message_filters is not available with the pip-installed ROS 2 runtime, and the policy needs
only this much of it: keep the latest message of each stream with its stamp (seconds), and
for a reference stamp (the /joint_states tick being answered) say whether every required
stream has a message aligned with it:

- aligned: |stamp - reference| <= tolerance for every stream, and
- fresh: now - stamp <= max_age for every stream (now defaults to the reference stamp; the
  node passes its clock, so a backlog of old ticks is refused as well).

When the set is not complete, the answer names the stream at fault and says whether waiting
can still help (`pending`): a stream with no message yet, or only an older one, may still
deliver the matching message; a stream already past the reference (only the latest message
is kept) or a reference older than `max_age` can never be completed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence


@dataclass(frozen=True)
class Stamped:
    stamp: float
    value: Any


@dataclass(frozen=True)
class Assembly:
    """The answer of `ObservationSynchronizer.assemble`.

    values: stream -> value of the aligned set, or None when the set is not complete.
    stamps: stream -> stamp of the message considered (streams with a message only).
    reason: why the set is not complete (names every stream at fault), None when it is.
    streams_at_fault: the streams named in `reason`.
    pending: True when every fault can still be fixed by a message yet to come.
    """

    values: Optional[dict[str, Any]]
    stamps: dict[str, float] = field(default_factory=dict)
    reason: Optional[str] = None
    streams_at_fault: tuple[str, ...] = ()
    pending: bool = False

    @property
    def ok(self) -> bool:
        return self.values is not None


class ObservationSynchronizer:
    """Latest message per stream; aligned sets around a reference stamp.

    streams: the required stream names (order is the order of the reasons).
    tolerance: largest |stamp - reference| (seconds) accepted as "the same instant".
    max_age: largest now - stamp (seconds) accepted for any stream.
    """

    def __init__(self, streams: Sequence[str], tolerance: float, max_age: float):
        streams = tuple(streams)
        if not streams or len(set(streams)) != len(streams):
            raise ValueError(f"streams must be unique and non-empty, got {streams!r}")
        if not (math.isfinite(tolerance) and tolerance >= 0.0):
            raise ValueError(f"tolerance must be finite and >= 0, got {tolerance!r}")
        if not (math.isfinite(max_age) and max_age > 0.0):
            raise ValueError(f"max_age must be finite and > 0, got {max_age!r}")
        self.streams = streams
        self.tolerance = float(tolerance)
        self.max_age = float(max_age)
        self.out_of_order_count = 0
        self._latest: dict[str, Stamped] = {}

    def update(self, stream: str, stamp: float, value: Any) -> bool:
        """Keep `value` as the stream's latest message. A message stamped before the one kept
        is out of order (transport reordering, a restarted publisher's backlog) and ignored:
        returns False."""
        if stream not in self.streams:
            raise KeyError(f"unknown stream {stream!r}; streams: {list(self.streams)}")
        stamp = float(stamp)
        if not math.isfinite(stamp):
            raise ValueError(f"stream {stream!r}: stamp {stamp!r} is not finite")
        kept = self._latest.get(stream)
        if kept is not None and stamp < kept.stamp:
            self.out_of_order_count += 1
            return False
        self._latest[stream] = Stamped(stamp, value)
        return True

    def latest(self, stream: str) -> Optional[Stamped]:
        return self._latest.get(stream)

    def clear(self) -> None:
        self._latest.clear()

    def assemble(self, reference_stamp: float, now: Optional[float] = None) -> Assembly:
        """The aligned set for `reference_stamp`, or the reason there is none."""
        reference = float(reference_stamp)
        now = reference if now is None else float(now)
        stamps = {name: kept.stamp for name, kept in self._latest.items()}
        faults: list[tuple[str, str, bool]] = []  # (stream, problem, can still be fixed)
        reference_age = now - reference
        if reference_age > self.max_age:
            return Assembly(None, stamps, f"the reference stamp {reference:.6f} is "
                            f"{reference_age:.3f} s old (max_age {self.max_age:g} s)", (), False)
        for name in self.streams:
            kept = self._latest.get(name)
            if kept is None:
                faults.append((name, f"no message yet on {name}", True))
                continue
            offset = kept.stamp - reference
            if offset > self.tolerance:
                faults.append((name, f"{name} is {offset:.3f} s newer than the reference "
                                     f"(tolerance {self.tolerance:g} s)", False))
            elif offset < -self.tolerance:
                faults.append((name, f"{name} is {-offset:.3f} s older than the reference "
                                     f"(tolerance {self.tolerance:g} s)", True))
            elif now - kept.stamp > self.max_age:
                faults.append((name, f"{name} is {now - kept.stamp:.3f} s old "
                                     f"(max_age {self.max_age:g} s)", True))
        if faults:
            return Assembly(None, stamps, "; ".join(problem for _, problem, _ in faults),
                            tuple(name for name, _, _ in faults),
                            all(fixable for _, _, fixable in faults))
        return Assembly({name: self._latest[name].value for name in self.streams}, stamps)
