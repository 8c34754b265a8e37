"""The hand controller's safety core: what may reach the hand, tick by tick.

Every command passes through `SafetyFilter.command()`; every control tick calls
`SafetyFilter.tick()`, which returns the target to send. Rules, in order:

1. Non-finite values (NaN/Inf), unknown or missing joint names: the command is rejected whole
   (never partly applied) and the last safe target is kept.
2. Positions are clipped to the joint limits.
3. The step from the last sent target is limited to `max_velocity * elapsed` per joint, where
   `elapsed` is the time since the previous tick capped at `dt` (a full `dt` on the first
   tick). Ticks may come from two sources (each command, and a control-rate timer): limiting
   by elapsed time keeps the speed limit in rad/s however many ticks happen per period, and
   the cap keeps a late tick from jumping.
4. Watchdog: no accepted command for `watchdog_timeout` seconds -> hold the last safe target
   and say so, until a fresh command arrives.
5. E-stop: latched; holds the last safe target until `reset_estop()`, whatever arrives.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class CommandRejected(ValueError):
    """A command that must not reach the hand; the message says why."""


class HoldReason(enum.Enum):
    NONE = "none"
    NO_COMMAND_YET = "no_command_yet"
    STALE_COMMAND = "stale_command"
    ESTOP = "estop"


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits, in `names` order: positions [rad or m], speeds [rad/s or m/s]."""
    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray

    def __post_init__(self):
        n = len(self.names)
        if n == 0 or len(set(self.names)) != n:
            raise ValueError(f"joint names must be unique and non-empty: {list(self.names)}")
        for field in ("lower", "upper", "max_velocity"):
            value = np.asarray(getattr(self, field), dtype=float)
            if value.shape != (n,):
                raise ValueError(f"{field} has shape {value.shape}, expected ({n},)")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{field} must be finite")
            object.__setattr__(self, field, value)
        bad = [self.names[i] for i in np.flatnonzero(self.lower > self.upper)]
        if bad:
            raise ValueError(f"lower limit above upper limit for joints {bad}")
        bad = [self.names[i] for i in np.flatnonzero(self.max_velocity <= 0)]
        if bad:
            raise ValueError(f"max_velocity must be > 0 for joints {bad}")


@dataclass
class TickOutput:
    target: np.ndarray        # (J,) position targets to send, in `JointLimits.names` order
    hold: HoldReason          # why the hand is holding (NONE: tracking commands)
    clipped: bool             # the latest command was clipped to limits or rate-limited


class SafetyFilter:
    """See the module docstring. `dt` is the control period, `watchdog_timeout` in seconds."""

    def __init__(self, limits: JointLimits, dt: float, watchdog_timeout: float):
        if dt <= 0 or watchdog_timeout <= 0:
            raise ValueError(f"dt and watchdog_timeout must be > 0, got {dt}, {watchdog_timeout}")
        self.limits = limits
        self.dt = dt
        self.watchdog_timeout = watchdog_timeout
        self._index = {name: i for i, name in enumerate(limits.names)}
        self.safe_target: np.ndarray | None = None   # last target sent
        self._desired: np.ndarray | None = None      # latest accepted command, clipped
        self._last_command_time: float | None = None
        self._last_tick_time: float | None = None
        self.estopped = False
        self.rejected_count = 0

    def start(self, measured_positions: np.ndarray) -> None:
        """Hold where the hand is until the first command."""
        measured = np.asarray(measured_positions, dtype=float)
        if measured.shape != (len(self.limits.names),) or not np.all(np.isfinite(measured)):
            raise CommandRejected("measured positions must be finite, one per joint")
        self.safe_target = np.clip(measured, self.limits.lower, self.limits.upper)

    def command(self, names, positions, now: float) -> None:
        """Accept a command (joint names and positions, any order) or raise CommandRejected."""
        positions = np.asarray(positions, dtype=float)
        names = list(names)
        try:
            if positions.shape != (len(names),):
                raise CommandRejected(f"{len(names)} names but {positions.size} positions")
            unknown = [n for n in names if n not in self._index]
            if unknown:
                raise CommandRejected(f"unknown joints {unknown}")
            missing = [n for n in self.limits.names if n not in names]
            if missing:
                raise CommandRejected(f"missing joints {missing}")
            if len(set(names)) != len(names):
                raise CommandRejected("duplicate joint names")
            bad = [names[i] for i in np.flatnonzero(~np.isfinite(positions))]
            if bad:
                raise CommandRejected(f"non-finite positions for joints {bad}")
        except CommandRejected:
            self.rejected_count += 1
            raise
        ordered = np.empty(len(self.limits.names))
        ordered[[self._index[n] for n in names]] = positions
        self._desired = ordered
        self._last_command_time = now

    def estop(self) -> None:
        self.estopped = True

    def reset_estop(self) -> None:
        """Leave e-stop; the hand keeps holding until a fresh command arrives."""
        self.estopped = False
        self._desired = None
        self._last_command_time = None

    def tick(self, now: float) -> TickOutput:
        if self.safe_target is None:
            raise RuntimeError("SafetyFilter.tick() before start(measured_positions)")
        hold = HoldReason.NONE
        if self.estopped:
            hold = HoldReason.ESTOP
        elif self._last_command_time is None:
            hold = HoldReason.NO_COMMAND_YET
        elif now - self._last_command_time > self.watchdog_timeout:
            hold = HoldReason.STALE_COMMAND
        elapsed = self._elapsed_since_last_tick(now)
        self._last_tick_time = now
        if hold is not HoldReason.NONE:
            return TickOutput(self.safe_target.copy(), hold, False)
        limited = np.clip(self._desired, self.limits.lower, self.limits.upper)
        max_step = self.limits.max_velocity * elapsed
        stepped = np.clip(limited, self.safe_target - max_step, self.safe_target + max_step)
        clipped = bool(np.any(stepped != self._desired))
        self.safe_target = stepped
        return TickOutput(stepped.copy(), hold, clipped)

    def _elapsed_since_last_tick(self, now: float) -> float:
        if self._last_tick_time is None:
            return self.dt
        # A clock that goes back (simulated time reset) allows no motion, never a negative step.
        return min(max(now - self._last_tick_time, 0.0), self.dt)

    @property
    def last_command_time(self) -> float | None:
        """When the latest accepted command arrived (None: none since start or e-stop reset)."""
        return self._last_command_time
