"""Spacemouse wrist teleoperation: device axes -> twist -> integrated wrist joint targets.

The spacemouse reports 6 axes in [-1, 1] (the ROS `spacenav` driver's /spacenav/twist
convention: linear x y z, angular x y z) and buttons. `SpacemouseFilter` applies a deadband
(the puck never rests exactly at zero), clipping and scaling to a twist in m/s and rad/s.
`TwistIntegrator` integrates the twist into wrist/arm joint targets through a linear map
with a clutch: on `engage()` the target is set to the robot's *measured* pose, so taking
over never makes the hand jump, and each tick's increment is rate limited.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class SpacemouseReadingError(ValueError):
    pass


@dataclass(frozen=True)
class SpacemouseConfig:
    deadband: float = 0.08          # fraction of full deflection ignored around rest
    max_linear_speed: float = 0.25  # m/s at full deflection
    max_angular_speed: float = 1.0  # rad/s at full deflection

    def __post_init__(self):
        if not 0.0 <= self.deadband < 1.0:
            raise ValueError(f"deadband must be in [0, 1), got {self.deadband}")
        if self.max_linear_speed <= 0 or self.max_angular_speed <= 0:
            raise ValueError("spacemouse speeds must be positive")


class SpacemouseFilter:
    """Normalised axes (6,) -> twist (6,) [vx vy vz wx wy wz] in m/s and rad/s."""

    def __init__(self, config: SpacemouseConfig = SpacemouseConfig()):
        self.config = config
        self.scale = np.array([config.max_linear_speed] * 3 + [config.max_angular_speed] * 3)

    def __call__(self, axes: np.ndarray) -> np.ndarray:
        axes = np.asarray(axes, dtype=float)
        if axes.shape != (6,):
            raise SpacemouseReadingError(f"spacemouse axes have shape {axes.shape}, expected (6,)")
        if not np.all(np.isfinite(axes)):
            raise SpacemouseReadingError("spacemouse axes are not finite")
        axes = np.clip(axes, -1.0, 1.0)
        db = self.config.deadband
        # Rescale outside the deadband so output is continuous at its edge.
        magnitude = np.maximum(np.abs(axes) - db, 0.0) / (1.0 - db)
        return np.sign(axes) * magnitude * self.scale

    def axes_for(self, twist: np.ndarray) -> np.ndarray:
        """Device axes that produce `twist` (inverse of __call__ outside the deadband);
        used by the simulated operator."""
        normalised = np.clip(np.asarray(twist, float) / self.scale, -1.0, 1.0)
        db = self.config.deadband
        return np.where(normalised == 0.0, 0.0, np.sign(normalised) * (db + np.abs(normalised) * (1.0 - db)))


class TwistIntegrator:
    """Integrates twists into arm joint targets, with a clutch and a per-tick rate limit.

    Args:
        twist_to_joint: (n, 6) map from twist [v; w] to joint velocities of the n arm joints
            (for a Cartesian slide+hinge arm like Adroit's, a fixed frame rotation; on a
            serial arm, the damped pseudo-inverse of the Jacobian at the current pose).
        lower, upper: (n,) joint limits.
        max_joint_speed: (n,) or scalar, largest joint speed the integrator ever commands.
    """

    def __init__(self, twist_to_joint: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 max_joint_speed: np.ndarray | float):
        self.twist_to_joint = np.asarray(twist_to_joint, dtype=float)
        n = self.twist_to_joint.shape[0]
        if self.twist_to_joint.shape != (n, 6):
            raise ValueError(f"twist_to_joint must be (n, 6), got {self.twist_to_joint.shape}")
        self.lower = np.asarray(lower, float)
        self.upper = np.asarray(upper, float)
        self.max_joint_speed = np.broadcast_to(np.asarray(max_joint_speed, float), (n,)).copy()
        self.joint_to_twist = np.linalg.pinv(self.twist_to_joint)
        self.target: np.ndarray | None = None

    @property
    def engaged(self) -> bool:
        return self.target is not None

    def engage(self, measured_joint_positions: np.ndarray) -> np.ndarray:
        """Clutch in: start integrating from where the arm is, so the target does not jump."""
        self.target = np.clip(np.asarray(measured_joint_positions, float).copy(), self.lower, self.upper)
        return self.target.copy()

    def release(self) -> None:
        self.target = None

    def step(self, twist: np.ndarray, dt: float) -> np.ndarray:
        if self.target is None:
            raise RuntimeError("TwistIntegrator.step() before engage(): the clutch is out")
        joint_velocity = self.twist_to_joint @ np.asarray(twist, float)
        joint_velocity = np.clip(joint_velocity, -self.max_joint_speed, self.max_joint_speed)
        self.target = np.clip(self.target + joint_velocity * dt, self.lower, self.upper)
        return self.target.copy()

    def twist_towards(self, desired: np.ndarray, dt: float, gain: float = 1.0) -> np.ndarray:
        """Twist that moves the current target towards `desired` in one tick (times `gain`)."""
        if self.target is None:
            raise RuntimeError("twist_towards() before engage()")
        return self.joint_to_twist @ (gain * (np.asarray(desired, float) - self.target) / dt)
