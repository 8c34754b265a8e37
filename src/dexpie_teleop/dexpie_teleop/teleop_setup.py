"""Build the arbiter's core objects from plain values (the node's parameters), no ROS.

The node is configured with the hand's joint order (`joint_names`, the order of
/joint_states, /policy/command and /hand/command) and which of those joints the spacemouse
moves (`arm_joints`). The teleop core works in its own order, arm joints first (in
`arm_joints` order, the rows of `twist_to_joint`) and then the finger joints (the rest of
`joint_names`, in that order; the glove drives them). `JointLayout` converts between the two.

The glove topic carries finger targets that are already retargeted (one value per finger
joint), so the glove calibration is one-to-one with the finger joints' limits.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping, Sequence

import numpy as np

from dexpie_teleop.arbiter import ArbiterConfig, InterventionArbiter
from dexpie_teleop.glove import GloveCalibration, GloveRetargeter
from dexpie_teleop.spacemouse import SpacemouseConfig, SpacemouseFilter, TwistIntegrator
from dexpie_teleop.teleop import TeleopPipeline


@dataclass(frozen=True)
class JointLayout:
    """The hand's joint order and the teleop core's order (arm joints, then fingers)."""
    joint_names: tuple[str, ...]
    arm_joints: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "arm_joints", tuple(self.arm_joints))
        if len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"joint_names has duplicates: {list(self.joint_names)}")
        unknown = [j for j in self.arm_joints if j not in self.joint_names]
        if unknown:
            raise ValueError(f"arm joints {unknown} are not in joint_names")
        if len(set(self.arm_joints)) != len(self.arm_joints):
            raise ValueError(f"arm_joints has duplicates: {list(self.arm_joints)}")

    @property
    def finger_joints(self) -> tuple[str, ...]:
        return tuple(j for j in self.joint_names if j not in self.arm_joints)

    @property
    def core_order(self) -> tuple[str, ...]:
        return self.arm_joints + self.finger_joints

    @property
    def _core_index(self) -> np.ndarray:
        """core vector = joint-order vector[_core_index]."""
        position = {name: i for i, name in enumerate(self.joint_names)}
        return np.array([position[name] for name in self.core_order], dtype=int)

    def to_core(self, values) -> np.ndarray:
        """(J,) values in `joint_names` order -> core order."""
        return np.asarray(values, float)[self._core_index]

    def from_core(self, values) -> np.ndarray:
        """(J,) values in core order -> `joint_names` order."""
        out = np.empty(len(self.joint_names))
        out[self._core_index] = np.asarray(values, float)
        return out


def build_teleop(layout: JointLayout, lower: Sequence[float], upper: Sequence[float],
                 twist_to_joint: Sequence[float], spacemouse: SpacemouseConfig,
                 max_arm_joint_speed: Sequence[float] | float, dt: float) -> TeleopPipeline:
    """The glove + spacemouse pipeline of the hand.

    lower, upper: (J,) limits in `layout.joint_names` order. twist_to_joint: n_arm * 6
    values, row-major, rows in `layout.arm_joints` order (as `HandTask.twist_to_joint()`).
    """
    n_arm = len(layout.arm_joints)
    lower, upper = layout.to_core(lower), layout.to_core(upper)
    matrix = np.asarray(twist_to_joint, float)
    if matrix.size != 6 * n_arm:
        raise ValueError(f"twist_to_joint has {matrix.size} values, expected {6 * n_arm} "
                         f"({n_arm} arm joints x 6 twist axes, row-major)")
    speed = np.asarray(max_arm_joint_speed, float).ravel()
    if speed.size not in (1, n_arm):
        raise ValueError(f"max_arm_joint_speed has {speed.size} values, expected 1 or {n_arm}")
    calibration = GloveCalibration.one_to_one(layout.finger_joints, lower[n_arm:], upper[n_arm:])
    integrator = TwistIntegrator(matrix.reshape(n_arm, 6), lower[:n_arm], upper[:n_arm],
                                 speed if speed.size == n_arm else float(speed[0]))
    return TeleopPipeline(GloveRetargeter(calibration), SpacemouseFilter(spacemouse), integrator, dt)


def arbiter_config(values: Mapping) -> ArbiterConfig:
    """An ArbiterConfig from a mapping that has every ArbiterConfig field by name."""
    return ArbiterConfig(**{f.name: values[f.name] for f in fields(ArbiterConfig)})


def build_arbiter(values: Mapping) -> tuple[JointLayout, InterventionArbiter]:
    """The layout and the arbiter described by the node's validated parameter values."""
    layout = JointLayout(tuple(values["joint_names"]), tuple(values["arm_joints"]))
    spacemouse = SpacemouseConfig(deadband=values["spacemouse_deadband"],
                                  max_linear_speed=values["spacemouse_max_linear_speed"],
                                  max_angular_speed=values["spacemouse_max_angular_speed"])
    teleop = build_teleop(layout, values["lower_limits"], values["upper_limits"], values["twist_to_joint"],
                          spacemouse, values["max_arm_joint_speed"], 1.0 / values["rate_hz"])
    return layout, InterventionArbiter(teleop, arbiter_config(values), human_only=values["human_only"])
