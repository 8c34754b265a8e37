"""Parameters of the `intervention_arbiter` node, declared once (pure, no ROS).

Three groups: the hand (joint order, which joints the spacemouse moves, limits, the twist ->
arm joint map), the arbiter's thresholds (one parameter per `ArbiterConfig` field, same name
and default), and the RViz markers. In the twin, the bringup fills the hand group from the
task: joint_names = TaskSpec.joint_names, arm_joints = TaskSpec.arm_joints, limits =
task.controller.lower/upper, twist_to_joint = task.twist_to_joint() flattened row-major.
"""
from __future__ import annotations

import math

from dexpie_common.parameters import (Finite, InRange, NonEmpty, Parameter, ParameterSchema,
                                      Positive, Unique, equal_lengths)
from dexpie_teleop.arbiter import ArbiterConfig
from dexpie_teleop.teleop_setup import arbiter_config

NODE_NAME = "intervention_arbiter"
_DEFAULTS = ArbiterConfig()
_NON_NEGATIVE = InRange(0.0, math.inf)

HAND = (
    Parameter("rate_hz", float, 30.0, "control rate: fallback tick rate (when no policy command for "
              "1.5 periods) and the spacemouse integration step 1/rate_hz", (InRange(1.0, 1000.0),)),
    Parameter("joint_names", list[str], [], "joint order of /joint_states, /policy/command and "
              "/hand/command (required)", (NonEmpty(), Unique())),
    Parameter("arm_joints", list[str], [], "joints of joint_names moved by the spacemouse, in the "
              "row order of twist_to_joint; the others are fingers, driven by the glove (required)",
              (NonEmpty(), Unique())),
    Parameter("lower_limits", list[float], [], "lower joint limits, one per joint_names entry (required)",
              (NonEmpty(), InRange())),
    Parameter("upper_limits", list[float], [], "upper joint limits, one per joint_names entry (required)",
              (NonEmpty(), InRange())),
    Parameter("twist_to_joint", list[float], [], "map from a wrist twist [vx vy vz wx wy wz] to arm "
              "joint velocities: len(arm_joints) x 6, row-major (required)", (NonEmpty(), Finite())),
    Parameter("max_arm_joint_speed", list[float], [1.0], "largest arm joint speed the spacemouse "
              "commands: one value for all arm joints or one per arm joint", (NonEmpty(), Positive(), Finite())),
    Parameter("spacemouse_deadband", float, 0.08, "fraction of full deflection ignored around rest",
              (InRange(0.0, 1.0, hi_inclusive=False),)),
    Parameter("spacemouse_max_linear_speed", float, 0.25, "m/s at full deflection", (Positive(), Finite())),
    Parameter("spacemouse_max_angular_speed", float, 1.0, "rad/s at full deflection", (Positive(), Finite())),
    Parameter("human_only", bool, False, "demonstration collection: every episode starts under human "
              "control (first tick with fresh devices) and control is never handed back; no policy needed"),
)

ARBITER = (
    Parameter("takeover_deflection", float, _DEFAULTS.takeover_deflection, "spacemouse axis deflection "
              "that means steering (takeover, and motion for the idle timer); >= spacemouse_deadband",
              (InRange(0.0, 1.0, hi_inclusive=False),)),
    Parameter("glove_takeover_deviation", float, _DEFAULTS.glove_takeover_deviation, "glove finger "
              "deviation (rad, max abs) from its rest and from the policy's fingers that takes over; "
              ".inf disables glove takeover", (InRange(0.0, math.inf, lo_inclusive=False),)),
    Parameter("motion_sustain_ticks", int, _DEFAULTS.motion_sustain_ticks, "consecutive ticks of device "
              "motion before a takeover", (InRange(1, math.inf),)),
    Parameter("glove_motion_threshold", float, _DEFAULTS.glove_motion_threshold, "glove change (rad, max "
              "abs) that counts as human motion (resets the idle timer)", (Positive(), Finite())),
    Parameter("idle_handback_time", float, _DEFAULTS.idle_handback_time, "seconds of human idleness "
              "before control goes back to the policy; .inf never", (Positive(),)),
    Parameter("device_timeout", float, _DEFAULTS.device_timeout, "glove / spacemouse data older than "
              "this (s, by arrival) is stale", (Positive(), Finite())),
    Parameter("policy_timeout", float, _DEFAULTS.policy_timeout, "policy command older than this (s, by "
              "arrival) is stale", (Positive(), Finite())),
    Parameter("button_debounce_time", float, _DEFAULTS.button_debounce_time, "button edges within this "
              "time (s) of the last accepted press are bounce", (_NON_NEGATIVE, Finite())),
    Parameter("blend_time", float, _DEFAULTS.blend_time, "takeover / handback ramp (s)",
              (_NON_NEGATIVE, Finite())),
    Parameter("max_transition_step", float, _DEFAULTS.max_transition_step, "largest per-tick command "
              "change (per joint) while blending at an edge", (Positive(), Finite())),
)

MARKERS = (
    Parameter("markers_enabled", bool, True, "publish /intervention/markers on every tick"),
    Parameter("marker_frame", str, "world", "frame_id of the markers", (NonEmpty(),)),
    Parameter("marker_position_joints", list[str], [], "3 joints of joint_names whose values give the "
              "hand's x, y, z (e.g. the arm's translation slides); empty: draw the text only", (Unique(),)),
    Parameter("marker_position_matrix", list[float], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
              "3x3 row-major: position = matrix @ q[marker_position_joints] + offset", (Finite(),)),
    Parameter("marker_position_offset", list[float], [0.0, 0.0, 0.0], "see marker_position_matrix",
              (Finite(),)),
    Parameter("marker_text_height", float, 0.15, "height (m) of the control text above the hand",
              (Finite(),)),
)


def _arm_joints_known(values):
    unknown = [j for j in values["arm_joints"] if j not in values["joint_names"]]
    return f"arm_joints {unknown} are not in joint_names" if unknown else None


def _limits_ordered(values):
    bad = [name for name, lo, hi in zip(values["joint_names"], values["lower_limits"], values["upper_limits"])
           if lo > hi]
    return f"lower_limits above upper_limits for joint(s) {bad}" if bad else None


def _twist_map_size(values):
    expected = 6 * len(values["arm_joints"])
    if len(values["twist_to_joint"]) != expected:
        return (f"twist_to_joint has {len(values['twist_to_joint'])} values, expected {expected} "
                f"(len(arm_joints) x 6, row-major)")
    return None


def _arm_speed_size(values):
    n = len(values["max_arm_joint_speed"])
    if n not in (1, len(values["arm_joints"])):
        return f"max_arm_joint_speed has {n} values, expected 1 or len(arm_joints) = {len(values['arm_joints'])}"
    return None


def _takeover_outside_deadband(values):
    if values["takeover_deflection"] < values["spacemouse_deadband"]:
        return (f"takeover_deflection {values['takeover_deflection']} is inside the spacemouse deadband "
                f"{values['spacemouse_deadband']}")
    return None


def _arbiter_config_valid(values):
    try:
        arbiter_config(values)
    except ValueError as error:
        return f"arbiter thresholds rejected: {error}"
    return None


def _marker_positions(values):
    joints = values["marker_position_joints"]
    if len(joints) not in (0, 3):
        return f"marker_position_joints must name 0 or 3 joints, got {joints}"
    unknown = [j for j in joints if j not in values["joint_names"]]
    if unknown:
        return f"marker_position_joints {unknown} are not in joint_names"
    if len(values["marker_position_matrix"]) != 9:
        return f"marker_position_matrix must have 9 values (3x3), got {len(values['marker_position_matrix'])}"
    if len(values["marker_position_offset"]) != 3:
        return f"marker_position_offset must have 3 values, got {len(values['marker_position_offset'])}"
    return None


SCHEMA = ParameterSchema(NODE_NAME, HAND + ARBITER + MARKERS, checks=(
    equal_lengths("joint_names", "lower_limits", "upper_limits"), _arm_joints_known, _limits_ordered,
    _twist_map_size, _arm_speed_size, _takeover_outside_deadband, _arbiter_config_valid, _marker_positions))
