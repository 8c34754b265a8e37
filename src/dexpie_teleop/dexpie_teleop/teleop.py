"""Device signals -> robot joint targets: glove for the fingers, spacemouse for the wrist.

The same pipeline serves the intervention arbiter on a robot and the simulated operator in
the twin, so a takeover in simulation passes through exactly the code a human's does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexpie_teleop.glove import GloveRetargeter
from dexpie_teleop.spacemouse import SpacemouseFilter, TwistIntegrator


@dataclass
class DeviceReading:
    """What the two human devices report on one tick.

    glove: (C,) glove channel angles [rad]; spacemouse_axes: (6,) in [-1, 1];
    buttons: spacemouse buttons (left, right).
    """
    glove: np.ndarray
    spacemouse_axes: np.ndarray
    buttons: tuple[bool, bool] = (False, False)


class TeleopPipeline:
    """Turns `DeviceReading`s into full joint targets [arm..., fingers...].

    `engage(measured)` is the clutch: the arm target starts at the measured arm pose. The
    fingers follow the glove directly (absolute retargeting), as with a real glove.
    """

    def __init__(self, retargeter: GloveRetargeter, spacemouse: SpacemouseFilter,
                 integrator: TwistIntegrator, dt: float):
        self.retargeter = retargeter
        self.spacemouse = spacemouse
        self.integrator = integrator
        self.dt = dt
        self.n_arm = integrator.twist_to_joint.shape[0]

    @property
    def engaged(self) -> bool:
        return self.integrator.engaged

    def engage(self, measured_joint_positions: np.ndarray) -> None:
        self.integrator.engage(np.asarray(measured_joint_positions)[: self.n_arm])

    def release(self) -> None:
        self.integrator.release()

    def __call__(self, reading: DeviceReading) -> np.ndarray:
        twist = self.spacemouse(reading.spacemouse_axes)
        arm = self.integrator.step(twist, self.dt)
        fingers = self.retargeter(reading.glove)
        return np.concatenate([arm, fingers])
