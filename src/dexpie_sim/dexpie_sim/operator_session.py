"""The simulated operator on the node graph: a privileged "human" at the glove and the
spacemouse of a running twin (pure: no rclpy). The `sim_operator` node feeds it each control
tick the twin reports and publishes the device signals it returns.

The operator core (`SimOperator`) plans from a MuJoCo scene, so the session keeps a local
copy of the task and mirrors the reported state into it every tick (`mirror_state`). Who is
in control comes from the arbiter (/intervention/state); the session follows it as the
in-process DAgger rollouts do (`dexpie_experiment.dagger`):

- watching (policy or safety hold in control): hands resting on the devices
  (`resting_devices()`);
- on seeing the arbiter hand it control: a fresh plan from the hand as it is
  (`reset()`, `begin_intervention(scene)`) and the clutch engaged at the measured arm pose
  in the session's own copy of the teleop pipeline, which it steps with its own readings
  exactly as the arbiter's copy is stepped, so that `devices()` steers from the arm target
  the arbiter integrates;
- on seeing control go back: a fresh look (`reset()`), clutch out.

When to press the spacemouse button (`takeover_mode`):
- "rule": the operator's own judgement on the task state, as in DAgger collection: press
  when `wants_takeover(scene)` while the policy drives, and when `wants_handback(scene)`
  while in control;
- "scripted": press at episode tick `scripted_takeover_tick` and again at
  `scripted_handback_tick` (episode ticks: the twin's task-status tick when it reports one,
  else the ticks since the last episode START);
- "never": resting devices only, never steering, never pressing.
A press holds the button for `press_ticks` ticks (a level; the arbiter acts on its rising
edge) and presses are at least `min_press_interval_ticks` apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dexpie_sim.mirror import mirror_state
from dexpie_sim.operators.base import OperatorConfig
from dexpie_sim.operators.population import member_for_episode
from dexpie_sim.registry import make_operator, make_task
from dexpie_teleop.arbiter import SOURCE_HUMAN, SOURCE_POLICY

TAKEOVER_MODES = ("rule", "scripted", "never")
# As the in-process DAgger rollouts reseed the operator for an episode of seed s.
EPISODE_SEED_OFFSET = 7919


@dataclass(frozen=True)
class SessionConfig:
    takeover_mode: str = "rule"
    scripted_takeover_tick: int = 30
    scripted_handback_tick: int = 90
    press_ticks: int = 3
    min_press_interval_ticks: int = 8

    def __post_init__(self):
        if self.takeover_mode not in TAKEOVER_MODES:
            raise ValueError(f"takeover_mode must be one of {list(TAKEOVER_MODES)}, got {self.takeover_mode!r}")
        if not 0 <= self.scripted_takeover_tick < self.scripted_handback_tick:
            raise ValueError(f"scripted ticks must satisfy 0 <= takeover ({self.scripted_takeover_tick}) "
                             f"< handback ({self.scripted_handback_tick})")
        if self.press_ticks < 1 or self.min_press_interval_ticks <= self.press_ticks:
            raise ValueError(f"need press_ticks >= 1 and min_press_interval_ticks > press_ticks, got "
                             f"{self.press_ticks} and {self.min_press_interval_ticks}")


class DeviceButton:
    """The spacemouse button under the simulated operator's thumb: a press holds it down for
    `press_ticks`; a press asked for while held (or too soon after) waits for the next
    allowed tick."""

    def __init__(self, press_ticks: int, min_interval_ticks: int):
        self.press_ticks, self.min_interval = press_ticks, min_interval_ticks
        self._since_press = math.inf
        self._pending = False

    def request(self) -> None:
        self._pending = True

    def level(self) -> tuple[bool, bool]:
        """(left, right) for this tick (call once per tick)."""
        if self._pending and self._since_press >= self.min_interval:
            self._pending, self._since_press = False, 0
        pressed = self._since_press < self.press_ticks
        self._since_press += 1
        return (pressed, False)


@dataclass(frozen=True)
class DeviceSignals:
    """What the devices report on one tick.

    fingers: retargeted glove (finger joint targets, `finger_joints` order);
    axes: spacemouse deflections (6,) in [-1, 1]; buttons: (left, right).
    """
    fingers: np.ndarray
    axes: np.ndarray
    buttons: tuple[bool, bool]
    in_control: bool          # the operator is steering (the arbiter gave it control)
    episode_tick: int


class OperatorSession:
    """See the module docstring. seed: the operator's noise seed until an episode's seed is
    known. population: who is at the devices (operators/population.py): episode seed s is
    operated by `member_for_episode(population, s)` (an episode without a seed: the
    population's first person)."""

    def __init__(self, task_name: str, config: SessionConfig = SessionConfig(),
                 operator_config: OperatorConfig | None = None, seed: int = 1,
                 population: str = "expert"):
        member_for_episode(population, 0)   # an unknown population is refused here, by name
        self.population = population
        self.task = make_task(task_name)
        self.operator = make_operator(task_name, self.task, seed=seed, config=operator_config)
        self.teleop = self.operator.teleop
        self.config = config
        self.arbiter_source: int | None = None   # unknown until the arbiter reports
        self.in_control = False
        self._status_driven = False               # episode ticks come from the twin's status
        self._previous_objects: np.ndarray | None = None
        self._commanded_arm: np.ndarray | None = None
        self._last_tick = -1
        self._crossed = (-1, -1)   # (previous, current) episode tick: presses due in between
        self.start_episode()

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.task.spec.joint_names

    @property
    def object_names(self) -> tuple[str, ...]:
        return self.task.spec.object_names

    @property
    def finger_joints(self) -> tuple[str, ...]:
        return self.task.spec.finger_joints

    @property
    def arm_joints(self) -> tuple[str, ...]:
        return self.task.spec.arm_joints

    def observe_command(self, arm_targets) -> None:
        """The arm targets the arbiter last sent (/hand/command). While in control, the
        operator steers from there, as a person watches where the arm is going: its own copy
        of the twist integrator would otherwise drift from the arbiter's whenever a tick is
        dropped or delayed on the way (the two integrate the same readings separately)."""
        self._commanded_arm = np.asarray(arm_targets, float).copy()

    # ---- events ----------------------------------------------------------------------------
    def episode_started(self, seed: int | None = None) -> None:
        """An episode START (/episode/events): the operator's episode starts afresh.

        Where its resting glove hand is depends on whether the twin reports its ticks. If it
        does, the scene's reset has already been seen (the tick went back, `start_episode`)
        and the resting hand placed for the new scene: START leaves it there. A watching human
        does not move the glove at the press of a start button; a jump of the resting glove
        after START would be taken by the arbiter for device motion (a takeover by an operator
        who never moved), since the arbiter anchors the glove's rest on its first reading after
        START. Without the twin's ticks, START is the only sign of a new scene: the hand is
        placed as at a reset."""
        self.start_episode(seed, place_hand=not self._status_driven)

    def start_episode(self, seed: int | None = None, place_hand: bool = True) -> None:
        """A new episode (the twin's clock went back, or an episode START): forget the past.
        place_hand: the resting glove hand is placed where the hand is commanded now (at the
        next tick's measured posture), as a human re-places it for a new scene; otherwise it
        stays where it rests."""
        known = seed is not None and seed >= 0
        self.operator.set_profile(member_for_episode(self.population, seed if known else 0))
        self.operator.reset(seed + EPISODE_SEED_OFFSET if known else None)
        self.teleop.release()
        self.in_control = False
        self._commanded_arm = None
        self.arbiter_source = None        # the arbiter restarts its episode too: wait for its word
        self._button = DeviceButton(self.config.press_ticks, self.config.min_press_interval_ticks)
        self._own_ticks = 0
        if place_hand:
            self._rest_from_measured = True   # the glove hand rests where the hand is commanded now
        self._previous_objects = None
        if not self._status_driven:
            self._last_tick = -1

    def set_arbiter_source(self, source: int) -> None:
        """The latest `source` the arbiter reported (InterventionState.SOURCE_*)."""
        self.arbiter_source = int(source)

    # ---- the tick ------------------------------------------------------------------------------
    def tick(self, joint_positions, object_state, joint_velocities=None,
             status_tick: int | None = None, status_seed: int | None = None) -> DeviceSignals:
        """React to one control tick of the twin. status_tick / status_seed: the twin's
        task status of this tick, when it reports one."""
        q = np.asarray(joint_positions, float)
        episode_tick = self._episode_tick(status_tick, status_seed)
        mirror_state(self.task, q, object_state, joint_velocities, self._previous_objects)
        self._previous_objects = np.asarray(object_state, float).copy()
        if self._rest_from_measured:
            self.task.target = self.task.controller.clip(q)
            self._rest_from_measured = False
        scene = self.operator.observe_delayed()
        self._follow_arbiter(q, scene)
        integrator = self.teleop.integrator
        if self.in_control and integrator.engaged and self._commanded_arm is not None:
            integrator.target = np.clip(self._commanded_arm, integrator.lower, integrator.upper)

        reading = self.operator.devices(scene) if self.in_control else self.operator.resting_devices()
        self._decide_presses(scene)
        buttons = self._button.level()
        if self.in_control:
            # The arbiter integrates these same readings into its command; so does this copy,
            # which is also where the glove hand will rest once control goes back.
            self.task.target = self.teleop(reading)
        fingers = self.teleop.retargeter(reading.glove)
        return DeviceSignals(fingers, np.asarray(reading.spacemouse_axes, float), buttons,
                             self.in_control, episode_tick)

    def _episode_tick(self, status_tick: int | None, status_seed: int | None) -> int:
        if status_tick is not None:
            if self._status_driven and status_tick < self._last_tick:
                self.start_episode(status_seed)   # the twin was reset
                self._last_tick = -1
            self._status_driven = True
            current = int(status_tick)
        else:
            self._own_ticks += 1
            current = self._own_ticks
        self._crossed = (self._last_tick, current)
        self._last_tick = current
        return current

    def _follow_arbiter(self, q: np.ndarray, scene: dict) -> None:
        steering = self.arbiter_source == SOURCE_HUMAN and self.config.takeover_mode != "never"
        if steering and not self.in_control:
            self.operator.reset()  # plan afresh from the hand as it is
            self.operator.begin_intervention(scene)
            self.teleop.engage(q)
        elif not steering and self.in_control:
            self.operator.reset()  # back to watching, with a fresh look
            self.teleop.release()
        self.in_control = steering

    def _decide_presses(self, scene: dict) -> None:
        mode = self.config.takeover_mode
        if mode == "rule":
            if self.in_control:
                if self.operator.wants_handback(scene):
                    self._button.request()
            elif self.arbiter_source == SOURCE_POLICY and self.operator.wants_takeover(scene):
                self._button.request()
        elif mode == "scripted":
            before, now = self._crossed
            for due in (self.config.scripted_takeover_tick, self.config.scripted_handback_tick):
                if before < due <= now:
                    self._button.request()

    def close(self) -> None:
        self.task.close()

