"""Glove retargeting: data-glove channel angles -> robot finger joint targets.

A glove reports one angle per sensor channel (radians, the human hand's joint angles after
the glove vendor's own calibration). Retargeting is a per-robot linear calibration,

    q_finger = clip(matrix @ glove + offset, lower, upper),

fitted once per operator (a few poses: flat hand, fist, pinch). Non-finite readings are
rejected, never forwarded to the hand.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class GloveReadingError(ValueError):
    pass


@dataclass(frozen=True)
class GloveCalibration:
    """Linear map from glove channels to robot finger joints.

    matrix: (J, C) robot joints x glove channels. offset, lower, upper: (J,).
    """
    robot_joints: tuple[str, ...]
    glove_channels: tuple[str, ...]
    matrix: np.ndarray
    offset: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self):
        j, c = len(self.robot_joints), len(self.glove_channels)
        if np.shape(self.matrix) != (j, c):
            raise ValueError(f"calibration matrix has shape {np.shape(self.matrix)}, expected ({j}, {c})")
        for name in ("offset", "lower", "upper"):
            if np.shape(getattr(self, name)) != (j,):
                raise ValueError(f"calibration {name} has shape {np.shape(getattr(self, name))}, expected ({j},)")
        if np.any(np.asarray(self.lower) > np.asarray(self.upper)):
            raise ValueError("calibration lower limit above upper limit")

    @classmethod
    def one_to_one(cls, robot_joints, lower, upper, scale=None, offset=None) -> "GloveCalibration":
        """One glove channel per robot joint (channel i named after joint i), diagonal map."""
        n = len(robot_joints)
        scale = np.ones(n) if scale is None else np.asarray(scale, float)
        return cls(tuple(robot_joints), tuple(f"glove/{j}" for j in robot_joints), np.diag(scale),
                   np.zeros(n) if offset is None else np.asarray(offset, float),
                   np.asarray(lower, float), np.asarray(upper, float))


class GloveRetargeter:
    """Applies a `GloveCalibration` to glove readings."""

    def __init__(self, calibration: GloveCalibration):
        self.calibration = calibration
        self._pinv = np.linalg.pinv(calibration.matrix)

    def __call__(self, glove_angles: np.ndarray) -> np.ndarray:
        glove_angles = np.asarray(glove_angles, dtype=float)
        c = self.calibration
        if glove_angles.shape != (len(c.glove_channels),):
            raise GloveReadingError(f"glove reading has shape {glove_angles.shape}, expected ({len(c.glove_channels)},)")
        if not np.all(np.isfinite(glove_angles)):
            bad = [c.glove_channels[i] for i in np.flatnonzero(~np.isfinite(glove_angles))]
            raise GloveReadingError(f"glove reading is not finite on channels {bad}")
        return np.clip(c.matrix @ glove_angles + c.offset, c.lower, c.upper)

    def glove_for(self, finger_targets: np.ndarray) -> np.ndarray:
        """Glove angles that retarget to `finger_targets` (least squares); used by the
        simulated operator, which thinks in robot joints but must speak through the glove."""
        return self._pinv @ (np.asarray(finger_targets, float) - self.calibration.offset)
