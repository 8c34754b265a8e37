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
"""
from __future__ import annotations

import abc
from collections import deque
from dataclasses import dataclass

import numpy as np

from dexpie_sim.tasks.base import HandTask
from dexpie_teleop.teleop import DeviceReading, TeleopPipeline


@dataclass(frozen=True)
class OperatorConfig:
    reaction_delay_steps: int = 3       # ~100 ms at 30 Hz
    glove_noise_std: float = 0.02       # rad, per glove channel
    spacemouse_noise_std: float = 0.02  # fraction of full deflection
    arm_gain: float = 0.5               # fraction of the arm error closed per tick (before limits)

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

    def reset(self, seed: int | None = None) -> None:
        """Forget the past (call at the start of each episode or takeover)."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._seen.clear()

    @abc.abstractmethod
    def perceive(self) -> dict:
        """Copy of the privileged scene state this operator plans from (arrays)."""

    @abc.abstractmethod
    def plan(self, scene: dict) -> OperatorIntent:
        """Where the robot should go, from a (delayed) scene state."""

    def wants_takeover(self, scene: dict) -> bool:
        """Would a watching human take over now? (Used by the DAgger rollouts.)"""
        return False

    def devices(self) -> DeviceReading:
        """This tick's glove reading and spacemouse axes (the teleop pipeline must be engaged)."""
        self._seen.append(self.perceive())
        scene = self._seen[0]  # the oldest kept: reaction_delay_steps ticks ago
        intent = self.plan(scene)
        glove = self.teleop.retargeter.glove_for(intent.fingers)
        glove = glove + self.rng.normal(0.0, self.config.glove_noise_std, glove.shape)
        twist = self.teleop.integrator.twist_towards(intent.arm, self.teleop.dt, self.config.arm_gain)
        axes = self.teleop.spacemouse.axes_for(twist)
        axes = np.clip(axes + self.rng.normal(0.0, self.config.spacemouse_noise_std, 6), -1.0, 1.0)
        return DeviceReading(glove=glove, spacemouse_axes=axes)

    def act(self) -> np.ndarray:
        """Joint targets for this tick, as the teleop pipeline makes them from the devices."""
        if not self.teleop.engaged:
            self.teleop.engage(self.task.controller.joint_positions(self.task.data))
        return self.teleop(self.devices())
