"""Pair the twin's per-tick messages by their common stamp (pure).

sim_hand publishes /sim/object_state and /joint_states of one tick with the same header
stamp. Topics are not ordered with respect to each other, so a subscriber that needs both
(the simulated operator mirrors the full scene) waits until it holds the two halves of the
same tick; a newer half replaces an older unmatched one.
"""
from __future__ import annotations

from typing import Any


class TickPairer:
    def __init__(self):
        self._joints: tuple[int, Any] | None = None
        self._objects: tuple[int, Any] | None = None
        self.dropped = 0    # halves replaced before their partner arrived

    def add_joints(self, stamp_ns: int, value) -> tuple[Any, Any] | None:
        """Returns (joints, objects) once both halves of tick `stamp_ns` are here."""
        self.dropped += self._joints is not None
        self._joints = (int(stamp_ns), value)
        return self._match()

    def add_objects(self, stamp_ns: int, value) -> tuple[Any, Any] | None:
        self.dropped += self._objects is not None
        self._objects = (int(stamp_ns), value)
        return self._match()

    def _match(self) -> tuple[Any, Any] | None:
        if self._joints is None or self._objects is None or self._joints[0] != self._objects[0]:
            return None
        pair = (self._joints[1], self._objects[1])
        self._joints = self._objects = None
        return pair
