"""Kinematics used by the `relative_ee_pose` representation, plus 6D-rotation helpers.

Pure numpy, batched over any leading dimensions. A kinematics object maps a group's joint
vector q (..., n) to an end-effector pose (p (..., 3), R (..., 3, 3)) and back. The relative
pose representation only needs the map to be a bijection on the chart the robot stays in, so
`ik(fk(q)) == q` must hold exactly there (tested).
"""
from __future__ import annotations

import numpy as np


def rotation_to_6d(rotation: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6): first column then second column of R.

    The 6D encoding is continuous over SO(3) (unlike Euler angles or quaternions), which is
    why a network regresses it more easily (Zhou et al. 2019)."""
    return np.concatenate([rotation[..., :, 0], rotation[..., :, 1]], axis=-1)


def rotation_from_6d(encoding: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt; any network output gives a valid rotation."""
    first = encoding[..., 0:3]
    second = encoding[..., 3:6]
    # The epsilon only guards a degenerate (zero) network output; exact encodings are unit.
    b1 = first / np.maximum(np.linalg.norm(first, axis=-1, keepdims=True), 1e-12)
    second = second - np.sum(b1 * second, axis=-1, keepdims=True) * b1
    b2 = second / np.maximum(np.linalg.norm(second, axis=-1, keepdims=True), 1e-12)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def _rot_x(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([one, zero, zero], -1),
                     np.stack([zero, c, -s], -1),
                     np.stack([zero, s, c], -1)], -2)


def _rot_y(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, zero, s], -1),
                     np.stack([zero, one, zero], -1),
                     np.stack([-s, zero, c], -1)], -2)


def _rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, -s, zero], -1),
                     np.stack([s, c, zero], -1),
                     np.stack([zero, zero, one], -1)], -2)


class CartesianEulerArm:
    """Three prismatic joints along the base x, y, z axes, then three revolute joints about
    x, then (the rotated) y, then (the rotated) z: the Adroit arm (ARTx, ARTy, ARTz, ARRx,
    ARRy, ARRz) idealised in a fixed base frame.

    fk: q = (x, y, z, rx, ry, rz) -> p = (x, y, z), R = Rx(rx) Ry(ry) Rz(rz)
    (a serial chain composes child rotations on the right). ik is the exact inverse on the
    chart |rx| < pi, |ry| < pi/2, |rz| < pi; at |ry| = pi/2 (gimbal lock) rx and rz are not
    separable, which a real wrist never reaches within its joint limits.
    """

    name = "cartesian_euler_arm"
    num_joints = 6

    def fk(self, joint_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 6) -> position (..., 3), rotation (..., 3, 3)."""
        q = np.asarray(joint_positions, dtype=np.float64)
        position = q[..., 0:3].copy()
        rotation = _rot_x(q[..., 3]) @ _rot_y(q[..., 4]) @ _rot_z(q[..., 5])
        return position, rotation

    def ik(self, position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
        """position (..., 3), rotation (..., 3, 3) -> (..., 6)."""
        r = np.asarray(rotation, dtype=np.float64)
        # From R = Rx(a) Ry(b) Rz(c): R02 = sin b, (R00, R01) = cos b (cos c, -sin c),
        # (R22, R12) = cos b (cos a, -sin a); atan2 keeps full precision away from the poles.
        ry = np.arctan2(r[..., 0, 2], np.hypot(r[..., 0, 0], r[..., 0, 1]))
        rz = np.arctan2(-r[..., 0, 1], r[..., 0, 0])
        rx = np.arctan2(-r[..., 1, 2], r[..., 2, 2])
        return np.concatenate([np.asarray(position, dtype=np.float64),
                               np.stack([rx, ry, rz], axis=-1)], axis=-1)


KINEMATICS = {CartesianEulerArm.name: CartesianEulerArm()}


def get_kinematics(name: str):
    """Look a kinematics model up by the name stored in `action_spec.json`."""
    if name not in KINEMATICS:
        raise ValueError(f"unknown kinematics {name!r}; known: {sorted(KINEMATICS)}")
    return KINEMATICS[name]
