"""What the arbiter knows between ticks: the latest value of each input and when it came (no ROS).

Inputs arrive asynchronously (policy commands, joint states, glove, spacemouse twist and
buttons); the arbiter ticks on its own schedule. `ArbiterInputs` keeps the latest value of
each with its arrival time, so that a tick can hand the core its data and their ages.
Arrival time (the node's clock), not the sender's stamp, measures staleness: a device on
another clock must not look fresh or stale because of its clock.

Button presses are latched between ticks: a press and release that both fall between two
ticks still reaches the core as one tick with the button down (the core looks for edges
between tick levels and would otherwise miss it).
"""
from __future__ import annotations

import math

import numpy as np

from dexpie_teleop.arbiter import SOURCE_POLICY

from dexpie_teleop.teleop import DeviceReading

# Fallback ticks start when no policy command came for this many control periods.
FALLBACK_AFTER_PERIODS = 1.5


class ButtonLatch:
    """The (left, right) levels for a tick: pressed now, or pressed at any time since the last tick."""

    def __init__(self):
        self.level = (False, False)
        self._since_tick = (False, False)

    def update(self, buttons) -> None:
        buttons = tuple(bool(b) for b in buttons)
        self.level = buttons
        self._since_tick = tuple(a or b for a, b in zip(self._since_tick, buttons))

    def for_tick(self) -> tuple[bool, bool]:
        out = tuple(a or b for a, b in zip(self.level, self._since_tick))
        self._since_tick = (False, False)
        return out


class ArbiterInputs:
    """Latest inputs and their arrival times. Vectors are in the caller's joint order.

    n_joints: length of measured positions and policy commands; n_fingers: of glove readings.
    Non-finite or wrongly sized values are refused (the setter returns False and the previous
    value stays), so that nothing non-finite ever reaches the core.
    """

    def __init__(self, n_joints: int, n_fingers: int):
        self.n_joints = n_joints
        self.n_fingers = n_fingers
        self.measured: np.ndarray | None = None
        self.policy_command: np.ndarray | None = None
        self.policy_time = -math.inf
        self.glove: np.ndarray | None = None
        self.glove_time = -math.inf
        self.axes = np.zeros(6)
        self.spacemouse_time = -math.inf
        self.buttons = ButtonLatch()
        self.counts = {"measured": 0, "policy": 0, "glove": 0, "twist": 0, "joy": 0}

    @staticmethod
    def _valid(values, size: int) -> np.ndarray | None:
        values = np.asarray(values, float)
        if values.shape != (size,) or not np.all(np.isfinite(values)):
            return None
        return values

    def set_measured(self, positions) -> bool:
        values = self._valid(positions, self.n_joints)
        if values is None:
            return False
        self.measured = values
        self.counts["measured"] += 1
        return True

    def set_policy(self, command, now: float) -> bool:
        values = self._valid(command, self.n_joints)
        if values is None:
            return False
        self.policy_command, self.policy_time = values, now
        self.counts["policy"] += 1
        return True

    def set_glove(self, fingers, now: float) -> bool:
        values = self._valid(fingers, self.n_fingers)
        if values is None:
            return False
        self.glove, self.glove_time = values, now
        self.counts["glove"] += 1
        return True

    def set_twist(self, axes, now: float) -> bool:
        values = self._valid(axes, 6)
        if values is None:
            return False
        self.axes, self.spacemouse_time = values, now
        self.counts["twist"] += 1
        return True

    def set_joy(self, axes, buttons, now: float) -> bool:
        """A spacenav Joy message: 6 axes (ignored when fewer or not finite) and [left, right]."""
        buttons = list(buttons)[:2] + [False] * max(0, 2 - len(buttons))
        self.buttons.update(buttons)
        values = self._valid(list(axes)[:6], 6) if len(axes) >= 6 else None
        if values is not None:
            self.axes = values
        self.spacemouse_time = now
        self.counts["joy"] += 1
        return True

    def start_episode(self) -> None:
        """An episode START: the glove and spacemouse readings received before it are forgotten,
        so that the episode's first reading is one that arrived after START. The arbiter
        anchors the glove's rest (its device-motion takeover) on the first reading of the
        episode; a reading from before START can describe the scene before a reset (the
        simulated operator re-places its resting hand when the twin is reset), and anchored on
        it, an operator who never moves looks like one who moved. Until fresh readings
        arrive the devices count as stale (no takeover; human-only episodes wait). Button
        levels are kept: a button held across START is not a new press."""
        self.glove, self.glove_time = None, -math.inf
        self.axes, self.spacemouse_time = np.zeros(6), -math.inf

    def device_reading(self, now: float) -> tuple[DeviceReading | None, float, float]:
        """(reading, glove_age, spacemouse_age) for a tick at `now`; reading is None until
        both the glove and the spacemouse have been heard from."""
        buttons = self.buttons.for_tick()
        if self.glove is None or math.isinf(self.spacemouse_time):
            return None, math.inf, math.inf
        reading = DeviceReading(self.glove.copy(), self.axes.copy(), buttons)
        return reading, now - self.glove_time, now - self.spacemouse_time

    def policy(self, now: float) -> tuple[np.ndarray | None, float]:
        """(latest policy command or None, its age)."""
        if self.policy_command is None:
            return None, math.inf
        return self.policy_command.copy(), now - self.policy_time



def drives_tick(event: str, source: int) -> bool:
    """Which input starts a control tick: the policy's command while the policy is in control
    (observation -> policy -> hand is one chain of callbacks), the hardware's /joint_states
    otherwise (human and hold ticks are sampled once per hardware tick, so the human's
    pipeline steps exactly once per tick, in step with the operator's own). event:
    "policy_command" or "joint_states"."""
    if event == "policy_command":
        return source == SOURCE_POLICY
    if event == "joint_states":
        return source != SOURCE_POLICY
    raise ValueError(f"unknown tick event {event!r}")


def fallback_due(now: float, last_tick: float, period: float) -> bool:
    """The timer must tick: nothing ticked for FALLBACK_AFTER_PERIODS control periods (a dead
    policy, no /joint_states)."""
    return now - last_tick >= FALLBACK_AFTER_PERIODS * period
