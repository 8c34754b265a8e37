"""Which joints form which action group, and how each group's actions are represented.

An action vector (D,) is the concatenation of the groups' encodings in group order:

| representation     | dims per group | meaning                                         |
|--------------------|----------------|-------------------------------------------------|
| `absolute_joint`   | n joints       | q_target                                        |
| `relative_joint`   | n joints       | q_target - q_ref                                |
| `relative_ee_pose` | 9              | T_ref^-1 T_target: translation (3) + 6D rotation |
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The representation names live with the hand description, which names one per joint group.
from dexpie_common.hand import (ABSOLUTE_JOINT, GLOVE, RELATIVE_EE_POSE, RELATIVE_JOINT,
                                REPRESENTATIONS, SPACEMOUSE, HandDescription)
from dexpie_policy.actions.kinematics import get_kinematics

__all__ = ["ABSOLUTE_JOINT", "RELATIVE_JOINT", "RELATIVE_EE_POSE", "REPRESENTATIONS", "EE_POSE_DIM",
           "ActionSpecError", "ActionGroup", "ActionSpec", "hand_action_spec", "twin_action_spec"]

EE_POSE_DIM = 9  # translation (3) + first two rotation columns (6)


class ActionSpecError(ValueError):
    """An action spec that does not describe a valid partition of the joints."""


@dataclass(frozen=True)
class ActionGroup:
    """A set of joints sharing one representation.

    `kinematics` names the model (see `kinematics.KINEMATICS`) that `relative_ee_pose` needs;
    its joint order is the order of `joints`.
    """
    name: str
    joints: tuple[str, ...]
    representation: str
    kinematics: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "joints", tuple(self.joints))
        if not self.name:
            raise ActionSpecError("action group name must be non-empty")
        if not self.joints:
            raise ActionSpecError(f"action group {self.name!r} has no joints")
        if self.representation not in REPRESENTATIONS:
            raise ActionSpecError(f"action group {self.name!r}: representation "
                                  f"{self.representation!r} is not one of {REPRESENTATIONS}")
        if self.representation == RELATIVE_EE_POSE:
            if self.kinematics is None:
                raise ActionSpecError(f"action group {self.name!r}: relative_ee_pose needs a "
                                      "kinematics name")
            try:
                model = get_kinematics(self.kinematics)
            except ValueError as error:
                raise ActionSpecError(f"action group {self.name!r}: {error}") from None
            if model.num_joints != len(self.joints):
                raise ActionSpecError(
                    f"action group {self.name!r}: kinematics {self.kinematics!r} has "
                    f"{model.num_joints} joints, the group names {len(self.joints)}")
        elif self.kinematics is not None:
            raise ActionSpecError(f"action group {self.name!r}: kinematics is only used by "
                                  f"relative_ee_pose, not {self.representation!r}")

    @property
    def action_dim(self) -> int:
        return EE_POSE_DIM if self.representation == RELATIVE_EE_POSE else len(self.joints)


@dataclass(frozen=True)
class ActionSpec:
    """The robot's joints (J, in observation/command order) partitioned into action groups."""
    joint_names: tuple[str, ...]
    groups: tuple[ActionGroup, ...]

    def __post_init__(self):
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "groups", tuple(self.groups))
        duplicates = sorted({n for n in self.joint_names if self.joint_names.count(n) > 1})
        if duplicates:
            raise ActionSpecError(f"joint names listed twice: {duplicates}")
        group_names = [g.name for g in self.groups]
        dup_groups = sorted({n for n in group_names if group_names.count(n) > 1})
        if dup_groups:
            raise ActionSpecError(f"action group names used twice: {dup_groups}")
        owner: dict[str, str] = {}
        for group in self.groups:
            for joint in group.joints:
                if joint not in self.joint_names:
                    raise ActionSpecError(f"action group {group.name!r} names unknown joint "
                                          f"{joint!r}")
                if joint in owner:
                    raise ActionSpecError(f"joint {joint!r} is in two action groups: "
                                          f"{owner[joint]!r} and {group.name!r}")
                owner[joint] = group.name
        missing = [n for n in self.joint_names if n not in owner]
        if missing:
            raise ActionSpecError(f"joints in no action group: {missing}")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def action_dim(self) -> int:
        return sum(g.action_dim for g in self.groups)

    def joint_indices(self, group: ActionGroup) -> np.ndarray:
        """Indices of the group's joints in the (J,) joint vector, in group order."""
        return np.array([self.joint_names.index(j) for j in group.joints], dtype=np.int64)

    def action_slices(self) -> list[slice]:
        """Slice of each group (in group order) in the (D,) action vector."""
        slices, start = [], 0
        for group in self.groups:
            slices.append(slice(start, start + group.action_dim))
            start += group.action_dim
        return slices

    def to_dict(self) -> dict:
        return {"joint_names": list(self.joint_names),
                "groups": [{"name": g.name, "joints": list(g.joints),
                            "representation": g.representation, "kinematics": g.kinematics}
                           for g in self.groups]}

    @classmethod
    def from_dict(cls, data: dict) -> "ActionSpec":
        if not isinstance(data, dict) or set(data) != {"joint_names", "groups"}:
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ActionSpecError(f"action spec must have exactly keys ['groups', "
                                  f"'joint_names'], got {keys}")
        groups = []
        for entry in data["groups"]:
            unknown = set(entry) - {"name", "joints", "representation", "kinematics"}
            if unknown:
                raise ActionSpecError(f"action group has unknown keys {sorted(unknown)}")
            groups.append(ActionGroup(name=entry["name"], joints=tuple(entry["joints"]),
                                      representation=entry["representation"],
                                      kinematics=entry.get("kinematics")))
        return cls(joint_names=tuple(data["joint_names"]), groups=tuple(groups))


def twin_action_spec(arm_joints, finger_joints, arm_representation: str = RELATIVE_JOINT,
                     finger_representation: str = ABSOLUTE_JOINT) -> ActionSpec:
    """The twin's default: arm relative, fingers absolute (the paper's robot; the fingers'
    targets are bounded and state-independent), both configurable.

    `arm_representation="relative_ee_pose"` uses `CartesianEulerArm` (6 arm joints in the
    order x, y, z, rx, ry, rz, as in Adroit relocate); `relative_joint` works for any arm.
    """
    kinematics = "cartesian_euler_arm" if arm_representation == RELATIVE_EE_POSE else None
    return ActionSpec(
        joint_names=tuple(arm_joints) + tuple(finger_joints),
        groups=(ActionGroup("arm", tuple(arm_joints), arm_representation, kinematics),
                ActionGroup("fingers", tuple(finger_joints), finger_representation)))


def hand_action_spec(hand: HandDescription, arm_representation: str = "",
                     finger_representation: str = "") -> ActionSpec:
    """The action spec of a hand description: one action group per hand group, in the hand's
    joint order, each with the group's representation. `arm_representation` /
    `finger_representation`, where not empty, replace the representation of every group the
    spacemouse / the glove drives (the ablations: e.g. absolute arm actions)."""
    override = {SPACEMOUSE: arm_representation, GLOVE: finger_representation}
    groups = []
    for group in hand.groups:
        representation = override.get(group.device) or group.representation
        kinematics = group.kinematics if representation == RELATIVE_EE_POSE else None
        if representation == RELATIVE_EE_POSE and not kinematics:
            raise ActionSpecError(f"hand group {group.name!r}: relative_ee_pose needs the group's "
                                  "kinematics in the hand description")
        groups.append(ActionGroup(group.name, group.joints, representation, kinematics))
    return ActionSpec(joint_names=hand.joint_names, groups=tuple(groups))
