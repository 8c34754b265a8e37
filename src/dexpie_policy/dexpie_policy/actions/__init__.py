"""Action representations: absolute / relative joint targets and relative end-effector poses."""
from dexpie_policy.actions.kinematics import (CartesianEulerArm, get_kinematics,
                                              rotation_from_6d, rotation_to_6d)
from dexpie_policy.actions.spec import (ABSOLUTE_JOINT, RELATIVE_EE_POSE, RELATIVE_JOINT,
                                        REPRESENTATIONS, ActionGroup, ActionSpec,
                                        ActionSpecError, hand_action_spec, twin_action_spec)
from dexpie_policy.actions.transforms import reanchor, to_absolute, to_relative

__all__ = ["ABSOLUTE_JOINT", "RELATIVE_EE_POSE", "RELATIVE_JOINT", "REPRESENTATIONS",
           "ActionGroup", "ActionSpec", "ActionSpecError", "CartesianEulerArm",
           "get_kinematics", "reanchor", "rotation_from_6d", "rotation_to_6d",
           "hand_action_spec", "to_absolute", "to_relative", "twin_action_spec"]
