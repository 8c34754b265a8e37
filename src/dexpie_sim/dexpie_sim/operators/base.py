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

Intervening (multi-stage DAgger rollouts): while the policy drives, the operator watches
(`observe_delayed()` + `wants_takeover(scene)`) with its hands resting on the devices
(`resting_devices()`); once in control it steers through `devices(scene)` and decides when to
hand back with the task-generic rule of `HandbackConfig` (`begin_intervention(scene)`, then
`wants_handback(scene)` every tick it is in control).
"""
from __future__ import annotations

import abc
from collections import deque
from dataclasses import dataclass

import numpy as np

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
    """Base of the per-task operators."""

    def __init__(self, task: HandTask, teleop: TeleopPipeline, config: OperatorConfig = OperatorConfig(),
                 seed: int = 0):
        self.task = task
        self.teleop = teleop
        self.config = config
        self.rng = np.random.default_rng(seed)
        self._seen: deque = deque(maxlen=config.reaction_delay_steps + 1)
        self._intervention: _Intervention | None = None
        self._rest_glove: np.ndarray | None = None

    def reset(self, seed: int | None = None) -> None:
        """Forget the past (call at the start of each episode or takeover)."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._seen.clear()
        self._intervention = None
        self._rest_glove = None

    @abc.abstractmethod
    def perceive(self) -> dict:
        """Copy of the privileged scene state this operator plans from (arrays)."""

    @abc.abstractmethod
    def plan(self, scene: dict) -> OperatorIntent:
        """Where the robot should go, from a (delayed) scene state."""

    def wants_takeover(self, scene: dict) -> bool:
        """Would a watching human take over now? (Used by the DAgger rollouts.)"""
        return False

    def observe_delayed(self) -> dict:
        """Perceive the scene now; return it as the operator sees it, `reaction_delay_steps`
        ticks late. Call once per tick. The scene carries the task's stage index and success
        under `SCENE_STAGE_INDEX` and `SCENE_SUCCESS`."""
        scene = self.perceive()
        scene[SCENE_STAGE_INDEX] = self.task.spec.stages.index(self.task.stage_reached())
        scene[SCENE_SUCCESS] = bool(self.task.is_success())
        self._seen.append(scene)
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
        glove = glove + self.rng.normal(0.0, self.config.glove_noise_std, glove.shape)
        twist = self.teleop.integrator.twist_towards(intent.arm, self.teleop.dt, self.config.arm_gain)
        axes = self.teleop.spacemouse.axes_for(twist)
        axes = np.clip(axes + self.rng.normal(0.0, self.config.spacemouse_noise_std, 6), -1.0, 1.0)
        return DeviceReading(glove=glove, spacemouse_axes=axes)

    def resting_devices(self) -> DeviceReading:
        """Readings of an operator who watches without steering: the glove hand stays still
        where it was when the operator started watching (the hand's commanded finger posture
        then: at the episode start, or what the human commanded when handing back), with the
        glove's noise; the puck rests (hand jitter, inside the deadband). Needs no engaged
        pipeline."""
        if self._rest_glove is None:
            fingers = np.asarray(self.task.target, float)[self.teleop.n_arm:]
            self._rest_glove = self.teleop.retargeter.glove_for(fingers)
        glove = self._rest_glove + self.rng.normal(0.0, self.config.glove_noise_std, self._rest_glove.shape)
        axes = np.clip(self.rng.normal(0.0, self.config.spacemouse_noise_std, 6), -1.0, 1.0)
        return DeviceReading(glove=glove, spacemouse_axes=axes)

    # ---- intervening: the hand-back rule ---------------------------------------------------
    def begin_intervention(self, scene: dict) -> None:
        """The operator has just taken control; `scene` is what it saw when it decided."""
        self._intervention = _Intervention(stage_at_takeover=int(scene[SCENE_STAGE_INDEX]))

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
        # The failure check keeps running while in control: quiet means the failure has cleared.
        failing = self.wants_takeover(scene)
        iv.quiet_ticks = 0 if failing else iv.quiet_ticks + 1
        if iv.ticks < rule.min_ticks:
            return False
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
