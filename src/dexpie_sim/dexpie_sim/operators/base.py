"""The privileged simulated operator: a scripted "human" that acts only through the devices.

Each task's operator reads the scene's privileged state (object poses, contacts), decides
where the arm and fingers should go (its plan; the phase comes from the scene, never from
the clock, so it can resume from any stage or after a policy's mistake), and expresses that
as a glove reading and spacemouse axes, with human-like imperfections:

- reaction delay: it sees the scene `reaction_delay_steps` ticks late;
- noise on the glove channels (a human's fingers are not still) and on the puck;
- the spacemouse's deadband, clipping and speed limit (from `dexpie_teleop`).

The `TeleopPipeline` of `dexpie_teleop` turns the readings into joint targets, exactly as for
a human on the real robot.

A profile (`set_profile`, `operators/profile.py`) makes the operator one person of a skill
tier instead of the consistent expert: reaction delay drawn per episode, drifting devices,
a strategy of its own, late or missed takeovers, early hand-backs, failed corrections.

Intervening (multi-stage DAgger rollouts): while the policy drives, the operator watches
(`observe_delayed()` + `wants_takeover(scene)`, the person's decision on the task's
`failure_seen(scene)`) with its hands resting on the devices
(`resting_devices()`); once in control it steers through `devices(scene)` and decides when to
hand back with the task-generic rule of `HandbackConfig` (`begin_intervention(scene)`, then
`wants_handback(scene)` every tick it is in control).
"""
from __future__ import annotations

import abc
from collections import deque
from dataclasses import dataclass

import numpy as np

from dexpie_sim.operators.profile import (OperatorProfile, PopulationMember, SlowDrift,
                                          draw_strategy, ticks)
from dexpie_sim.tasks.base import HandTask
from dexpie_teleop.teleop import DeviceReading, TeleopPipeline


# Keys the base class adds to every perceived scene (task-generic progress signals).
SCENE_STAGE_INDEX = "_stage_index"   # index in TaskSpec.stages of the furthest stage that holds
SCENE_SUCCESS = "_success"           # the task is solved


@dataclass(frozen=True)
class HandbackConfig:
    """When an intervening operator gives control back, generic over tasks (in ticks).

    A skilled human hands back as soon as the stage is recovered: once the task's stage index
    (as the operator sees it, delayed) has advanced beyond the stage at takeover, or, when the
    takeover happened in the task's last stage (nothing further to reach but success), once
    that stage holds again and the operator's own failure check has stayed quiet for
    `settle_ticks`. Never before `min_ticks` (a correction takes a moment), always by
    `max_ticks` (a human does not keep the hand forever; the policy gets another chance).
    """
    min_ticks: int = 10
    settle_ticks: int = 10
    max_ticks: int = 150

    def __post_init__(self):
        for name in ("min_ticks", "settle_ticks", "max_ticks"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"HandbackConfig.{name} must be an integer >= 1, got {value!r}")
        if self.max_ticks < self.min_ticks:
            raise ValueError(f"HandbackConfig.max_ticks {self.max_ticks} is below min_ticks {self.min_ticks}")


@dataclass
class _Intervention:
    """What the operator remembers about the intervention it is in."""
    stage_at_takeover: int
    ticks: int = 0
    quiet_ticks: int = 0
    early: bool = False        # a person who will hand back as soon as allowed


@dataclass(frozen=True)
class OperatorConfig:
    reaction_delay_steps: int = 3       # ~100 ms at 30 Hz
    glove_noise_std: float = 0.02       # rad, per glove channel
    spacemouse_noise_std: float = 0.02  # fraction of full deflection
    arm_gain: float = 0.5               # fraction of the arm error closed per tick (before limits)
    handback: HandbackConfig = HandbackConfig()

    def __post_init__(self):
        if self.reaction_delay_steps < 0:
            raise ValueError(f"reaction_delay_steps must be >= 0, got {self.reaction_delay_steps}")
        if self.glove_noise_std < 0 or self.spacemouse_noise_std < 0:
            raise ValueError("noise levels must be >= 0")


@dataclass
class OperatorIntent:
    """Where the operator wants the robot: arm joint targets (n_arm,) and finger joint
    targets (n_fingers,), in the task's joint order."""
    arm: np.ndarray
    fingers: np.ndarray


class SimOperator(abc.ABC):
    """Base of the per-task operators.

    strategy_spread: the plan's parameters (instance attributes the subclass reads) that
    people choose differently, each with a spread (1 sd, in its own units) of how much.
    """
    strategy_spread: dict[str, float | np.ndarray] = {}

    def __init__(self, task: HandTask, teleop: TeleopPipeline, config: OperatorConfig = OperatorConfig(),
                 seed: int = 0):
        self.task = task
        self.teleop = teleop
        self.config = config
        self.rng = np.random.default_rng(seed)
        self._seen: deque = deque(maxlen=config.reaction_delay_steps + 1)
        self._intervention: _Intervention | None = None
        self._rest_glove: np.ndarray | None = None
        self.profile: OperatorProfile | None = None
        self.identity = 0
        self._person: dict | None = None      # this person's own strategy deviations
        self._episode: dict | None = None     # this episode's draws (see _draw_episode)
        self._takeover_in: int | None = None  # ticks until a decided takeover is pressed

    @property
    def reaction_delay_steps(self) -> int:
        """How many ticks late this operator decides from the scene (this episode's, for a
        person; the expert steers and decides from the same scene)."""
        return self._seen.maxlen - 1

    @property
    def tracking_delay_steps(self) -> int:
        """How many ticks late this operator steers from the scene."""
        return self.reaction_delay_steps if self._episode is None else self._episode["tracking"]

    def _noticed(self, scene: dict) -> dict:
        """What a decision is made from: for a person the scene `reaction_delay_steps` old
        (the caller's `scene` is the one they steer by), for the expert `scene` itself."""
        return scene if self.profile is None or not self._seen else self._seen[0]

    # ---- who is at the devices ----------------------------------------------------------------
    def set_profile(self, member: PopulationMember | None) -> None:
        """Make this operator one person of a skill tier (None or the expert tier: the
        scripted expert as it is). Takes effect from the next `reset(seed)`."""
        self.profile = None if member is None else member.profile
        self.identity = 0 if member is None else member.identity
        self._person = None if self.profile is None else draw_strategy(
            self.strategy_spread, self.profile.strategy_between,
            np.random.default_rng([self.identity, 0x5EED]))
        self._episode = None
        self._seen = deque(maxlen=self.config.reaction_delay_steps + 1)   # the expert's
        self._apply_strategy({})

    def _draw_episode(self, seed: int | None) -> None:
        """Per episode: reaction delay, strategy variation, device drift (own generator)."""
        profile, dt = self.profile, self.task.spec.control_dt
        rng = np.random.default_rng([self.identity, 0xE915] + ([] if seed is None else [seed]))
        delay = ticks(rng.uniform(*profile.reaction_delay_s), dt)
        tracking = min(delay, ticks(rng.uniform(*profile.tracking_delay_s), dt))
        self._episode = dict(
            rng=rng, delay=delay, tracking=tracking,
            strategy=draw_strategy(self.strategy_spread, profile.strategy_within, rng),
            glove_drift=SlowDrift(self.teleop.retargeter.glove_for(
                np.zeros(len(self.task.spec.finger_joints))).shape[0],
                profile.glove_drift_std, profile.glove_drift_tau_s, dt, rng),
            puck_drift=SlowDrift(6, profile.spacemouse_drift_std, profile.spacemouse_drift_tau_s,
                                 dt, rng))
        self._seen = deque(maxlen=delay + 1)

    def _apply_strategy(self, extra: dict) -> None:
        """Set each strategy parameter to the class's value + this person's, this episode's
        and `extra` deviations."""
        for name in self.strategy_spread:
            value = np.asarray(getattr(type(self), name), float)
            nominal = value
            for deviations in (self._person, (self._episode or {}).get("strategy"), extra):
                if deviations:
                    value = value + deviations[name]
            if not value.ndim and nominal > 0:   # a pace or a height keeps its sign and scale
                value = np.clip(value, nominal / 4.0, nominal * 4.0)
            setattr(self, name, value if value.ndim else float(value))

    def reset(self, seed: int | None = None) -> None:
        """Forget the past (call at the start of each episode or takeover). With a seed (an
        episode's start) a profiled operator also draws the episode's own values."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        if self.profile is not None and (seed is not None or self._episode is None):
            self._draw_episode(seed)
        if self.profile is not None:
            self._apply_strategy({})   # a failed correction's strategy ends with it
        self._seen.clear()
        self._intervention = None
        self._rest_glove = None
        self._takeover_in = None

    @abc.abstractmethod
    def perceive(self) -> dict:
        """Copy of the privileged scene state this operator plans from (arrays)."""

    @abc.abstractmethod
    def plan(self, scene: dict) -> OperatorIntent:
        """Where the robot should go, from a (delayed) scene state."""

    def failure_seen(self, scene: dict) -> bool:
        """The task's failure check: True on the tick a failure a watching expert would act
        on starts (the check keeps its own memory; it starts afresh once it has fired)."""
        return False

    def wants_takeover(self, scene: dict) -> bool:
        """Does the watching person press for a takeover now? (Call once per tick while the
        policy drives.) The expert: when `failure_seen`. A profiled person: later, by a
        decision time drawn per failure, or not at all (`takeover_miss_prob`)."""
        if self.profile is None:
            return self.failure_seen(scene)
        scene = self._noticed(scene)
        if self._takeover_in is not None:
            self._takeover_in -= 1
            if self._takeover_in > 0:
                return False
            self._takeover_in = None
            return True
        if not self.failure_seen(scene):
            return False
        rng = self._episode["rng"]
        if rng.uniform() < self.profile.takeover_miss_prob:
            return False
        wait = ticks(rng.uniform(*self.profile.takeover_delay_s), self.task.spec.control_dt)
        if wait == 0:
            return True
        self._takeover_in = wait
        return False

    def observe_delayed(self) -> dict:
        """Perceive the scene now; return it as the operator sees it, `reaction_delay_steps`
        ticks late. Call once per tick. The scene carries the task's stage index and success
        under `SCENE_STAGE_INDEX` and `SCENE_SUCCESS`."""
        scene = self.perceive()
        scene[SCENE_STAGE_INDEX] = self.task.spec.stages.index(self.task.stage_reached())
        scene[SCENE_SUCCESS] = bool(self.task.is_success())
        self._seen.append(scene)
        if self.profile is not None:   # steering: the scene tracking_delay_steps ago
            return self._seen[max(0, len(self._seen) - 1 - self.tracking_delay_steps)]
        return self._seen[0]  # the oldest kept: reaction_delay_steps ticks ago

    def devices(self, scene: dict | None = None) -> DeviceReading:
        """This tick's glove reading and spacemouse axes (the teleop pipeline must be engaged).

        scene: the delayed scene to plan from when the caller already observed this tick
        (`observe_delayed()`); by default this call observes.
        """
        if scene is None:
            scene = self.observe_delayed()
        intent = self.plan(scene)
        glove = self.teleop.retargeter.glove_for(intent.fingers)
        gain = self.config.arm_gain * (1.0 if self.profile is None else self.profile.speed)
        twist = self.teleop.integrator.twist_towards(intent.arm, self.teleop.dt, gain)
        return self._human_hands(glove, self.teleop.spacemouse.axes_for(twist))

    def _human_hands(self, glove: np.ndarray, axes: np.ndarray,
                     resting: bool = False) -> DeviceReading:
        """What the devices read when a hand means `glove` and `axes`: white noise, and a
        profiled person's slow drift (on the puck only while steering: a hand resting on it
        stays inside the deadband, population.py)."""
        profile = self.profile
        glove_std = self.config.glove_noise_std if profile is None else profile.glove_noise_std
        puck_std = self.config.spacemouse_noise_std if profile is None else profile.spacemouse_noise_std
        glove = glove + self.rng.normal(0.0, glove_std, glove.shape)
        axes = axes + self.rng.normal(0.0, puck_std, 6)
        if profile is not None:
            glove = glove + self._episode["glove_drift"].step()
            if not resting:
                axes = axes + self._episode["puck_drift"].step()
        return DeviceReading(glove=glove, spacemouse_axes=np.clip(axes, -1.0, 1.0))

    def resting_devices(self) -> DeviceReading:
        """Readings of an operator who watches without steering: the glove hand stays still
        where it was when the operator started watching (the hand's commanded finger posture
        then: at the episode start, or what the human commanded when handing back), with the
        glove's noise; the puck rests (hand jitter, inside the deadband). Needs no engaged
        pipeline."""
        if self._rest_glove is None:
            fingers = np.asarray(self.task.target, float)[self.teleop.n_arm:]
            self._rest_glove = self.teleop.retargeter.glove_for(fingers)
        return self._human_hands(self._rest_glove, np.zeros(6), resting=True)

    # ---- intervening: the hand-back rule ---------------------------------------------------
    def begin_intervention(self, scene: dict) -> None:
        """The operator has just taken control; `scene` is what it saw when it decided."""
        scene = self._noticed(scene)
        self._intervention = _Intervention(stage_at_takeover=int(scene[SCENE_STAGE_INDEX]))
        if self.profile is not None:
            rng, profile = self._episode["rng"], self.profile
            self._intervention.early = bool(rng.uniform() < profile.early_handback_prob)
            if rng.uniform() < profile.failed_correction_prob:
                self._apply_strategy(draw_strategy(self.strategy_spread,
                                                   profile.failed_correction_spread, rng))

    @property
    def intervening(self) -> bool:
        return self._intervention is not None

    def wants_handback(self, scene: dict) -> bool:
        """Call every tick the operator is in control (after `begin_intervention`): True on the
        tick it decides to give control back (see `HandbackConfig`)."""
        if self._intervention is None:
            raise RuntimeError("wants_handback() outside an intervention: call begin_intervention() first")
        iv, rule = self._intervention, self.config.handback
        iv.ticks += 1
        scene = self._noticed(scene)
        # The failure check keeps running while in control: quiet means the failure has cleared.
        failing = self.failure_seen(scene)
        iv.quiet_ticks = 0 if failing else iv.quiet_ticks + 1
        if iv.ticks < rule.min_ticks:
            return False
        if iv.early:   # this person thinks it is fixed already
            return True
        if iv.ticks >= rule.max_ticks:
            return True
        stage = int(scene[SCENE_STAGE_INDEX])
        if stage > iv.stage_at_takeover:
            return True
        last_stage = len(self.task.spec.stages) - 1
        return (iv.stage_at_takeover == last_stage and stage == last_stage
                and iv.quiet_ticks >= rule.settle_ticks)

    def act(self) -> np.ndarray:
        """Joint targets for this tick, as the teleop pipeline makes them from the devices."""
        if not self.teleop.engaged:
            self.teleop.engage(self.task.controller.joint_positions(self.task.data))
        return self.teleop(self.devices())
