"""Absolute joint targets <-> actions in the trained representation, batched (numpy).

Shapes: targets (..., H, J) absolute joint position targets; anchor (..., J) = q_ref, the
joint positions at observation time; actions (..., H, D) with D = `spec.action_dim`.
Leading dimensions of targets/actions and anchor must match (anchor has no H axis).
"""
from __future__ import annotations

import numpy as np

from dexpie_policy.actions.kinematics import get_kinematics, rotation_from_6d, rotation_to_6d
from dexpie_policy.actions.spec import (ABSOLUTE_JOINT, RELATIVE_EE_POSE, RELATIVE_JOINT,
                                        ActionSpec)


def _check(name: str, array: np.ndarray, last_dim: int, anchor: np.ndarray, spec: ActionSpec):
    if array.ndim < 2 or array.shape[-1] != last_dim:
        raise ValueError(f"{name} must have shape (..., H, {last_dim}), got {array.shape}")
    if anchor.shape[-1] != spec.num_joints or anchor.shape[:-1] != array.shape[:-2]:
        raise ValueError(f"anchor must have shape {array.shape[:-2] + (spec.num_joints,)} "
                         f"to match {name} {array.shape}, got {anchor.shape}")


def to_relative(targets: np.ndarray, anchor: np.ndarray, spec: ActionSpec) -> np.ndarray:
    """Absolute targets (..., H, J) -> actions (..., H, D) relative to `anchor` (..., J)."""
    targets = np.asarray(targets, dtype=np.float64)
    anchor = np.asarray(anchor, dtype=np.float64)
    _check("targets", targets, spec.num_joints, anchor, spec)
    parts = []
    for group in spec.groups:
        idx = spec.joint_indices(group)
        q_target = targets[..., idx]                 # (..., H, n)
        q_ref = anchor[..., None, idx]               # (..., 1, n)
        if group.representation == ABSOLUTE_JOINT:
            parts.append(q_target)
        elif group.representation == RELATIVE_JOINT:
            parts.append(q_target - q_ref)
        elif group.representation == RELATIVE_EE_POSE:
            kinematics = get_kinematics(group.kinematics)
            p_ref, r_ref = kinematics.fk(q_ref)      # (..., 1, 3), (..., 1, 3, 3)
            p_tgt, r_tgt = kinematics.fk(q_target)
            r_ref_t = np.swapaxes(r_ref, -1, -2)
            # T_rel = T_ref^-1 T_target: the step expressed in the anchor's end-effector frame.
            p_rel = (r_ref_t @ (p_tgt - p_ref)[..., None])[..., 0]
            parts.append(np.concatenate([p_rel, rotation_to_6d(r_ref_t @ r_tgt)], axis=-1))
        else:  # ActionGroup validation makes this unreachable; fail loudly if it is not.
            raise ValueError(f"unknown representation {group.representation!r}")
    return np.concatenate(parts, axis=-1)


def to_absolute(actions: np.ndarray, anchor: np.ndarray, spec: ActionSpec) -> np.ndarray:
    """Actions (..., H, D) relative to `anchor` (..., J) -> absolute targets (..., H, J)."""
    actions = np.asarray(actions, dtype=np.float64)
    anchor = np.asarray(anchor, dtype=np.float64)
    _check("actions", actions, spec.action_dim, anchor, spec)
    targets = np.empty(actions.shape[:-1] + (spec.num_joints,), dtype=np.float64)
    for group, part in zip(spec.groups, spec.action_slices()):
        idx = spec.joint_indices(group)
        action = actions[..., part]
        q_ref = anchor[..., None, idx]
        if group.representation == ABSOLUTE_JOINT:
            targets[..., idx] = action
        elif group.representation == RELATIVE_JOINT:
            targets[..., idx] = action + q_ref
        elif group.representation == RELATIVE_EE_POSE:
            kinematics = get_kinematics(group.kinematics)
            p_ref, r_ref = kinematics.fk(q_ref)
            r_tgt = r_ref @ rotation_from_6d(action[..., 3:9])
            p_tgt = p_ref + (r_ref @ action[..., 0:3, None])[..., 0]
            targets[..., idx] = kinematics.ik(p_tgt, r_tgt)
        else:
            raise ValueError(f"unknown representation {group.representation!r}")
    return targets


def reanchor(prefix_targets: np.ndarray, new_anchor: np.ndarray, spec: ActionSpec) -> np.ndarray:
    """The committed prefix (..., d, J) of absolute targets, expressed relative to the new
    chunk's anchor (..., J) -> (..., d, D): the clean prefix for real-time chunking."""
    return to_relative(prefix_targets, new_anchor, spec)
