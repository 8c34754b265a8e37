"""What the hand controller says about holding: one message per transition, never one per tick.

The safety filter reports a `HoldReason` on every tick (30 times a second). Operators need to
hear once that the hand started holding and why, and once that it tracks commands again;
the `holding` flag (a latched topic) must change exactly when holding starts or stops.
"""
from __future__ import annotations

from dataclasses import dataclass

from dexpie_control.safety import HoldReason


@dataclass(frozen=True)
class HoldTransition:
    reason: HoldReason
    holding: bool          # the hand holds its last safe position (reason is not NONE)
    holding_changed: bool  # the holding flag differs from the last one reported (or first report)
    message: str           # one line for the log
    warning: bool          # log as a warning (stale commands, e-stop) rather than info


class HoldStatus:
    """Turns per-tick hold reasons into transitions (`update` returns None when nothing changed)."""

    def __init__(self, watchdog_timeout: float):
        self.watchdog_timeout = watchdog_timeout
        self.reason: HoldReason | None = None

    @property
    def holding(self) -> bool | None:
        return None if self.reason is None else self.reason is not HoldReason.NONE

    def update(self, reason: HoldReason, command_age: float | None = None) -> HoldTransition | None:
        """command_age: seconds since the latest accepted command (for the stale message)."""
        if reason is self.reason:
            return None
        was_holding = self.holding
        self.reason = reason
        holding = reason is not HoldReason.NONE
        return HoldTransition(reason, holding, was_holding is None or was_holding != holding,
                              self._message(reason, command_age),
                              reason in (HoldReason.STALE_COMMAND, HoldReason.ESTOP))

    def _message(self, reason: HoldReason, command_age: float | None) -> str:
        if reason is HoldReason.NONE:
            return "tracking /hand/command"
        if reason is HoldReason.NO_COMMAND_YET:
            return "holding the last safe position until a fresh /hand/command arrives"
        if reason is HoldReason.STALE_COMMAND:
            age = "" if command_age is None else f" (last one {command_age:.3f} s ago)"
            return (f"holding the last safe position: no fresh /hand/command for more than "
                    f"watchdog_timeout = {self.watchdog_timeout} s{age}")
        return "e-stop latched: holding the last safe position until /hand_controller/reset_estop"
