"""Parameters of the `hand_controller` node, declared once (pure: no rclpy).

The limits have no meaningful defaults: they belong to the hand (robot description or the
simulation task), so they are required and the bringup writes them into the parameter file.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from dexpie_common.parameters import (
    Finite, InRange, NonEmpty, Parameter, ParameterSchema, ParameterValues, Positive, Unique,
    equal_lengths)

from dexpie_control.safety import JointLimits

NODE_NAME = "hand_controller"


def lower_below_upper(values: Mapping) -> str | None:
    """Schema check: every joint's lower limit is strictly below its upper limit."""
    names, lower, upper = values["joint_names"], values["lower_limits"], values["upper_limits"]
    bad = [f"'{name}' (lower {lo!r} >= upper {hi!r})"
           for name, lo, hi in zip(names, lower, upper) if not lo < hi]
    if bad:
        return f"lower_limits must be below upper_limits; rejected for joint(s) {', '.join(bad)}"
    return None


def watchdog_longer_than_a_period(values: Mapping) -> str | None:
    """Schema check: commands arrive once per control period, so a shorter watchdog would
    declare every command stale before the next one can arrive."""
    period = 1.0 / values["rate_hz"]
    if values["watchdog_timeout"] <= period:
        return (f"watchdog_timeout = {values['watchdog_timeout']!r} s rejected: it must exceed one "
                f"control period (1 / rate_hz = {period:.4g} s)")
    return None


SCHEMA = ParameterSchema(NODE_NAME, (
    Parameter("joint_names", list[str], [],
              "controller joint order (required): the order of /hand_position_controller/commands "
              "and of the limits below; /hand/command and /joint_states are matched by name",
              (NonEmpty(), Unique())),
    Parameter("lower_limits", list[float], [],
              "lower position limit per joint, in joint_names order [rad or m] (required)",
              (NonEmpty(), Finite())),
    Parameter("upper_limits", list[float], [],
              "upper position limit per joint, in joint_names order [rad or m] (required)",
              (NonEmpty(), Finite())),
    Parameter("max_velocity", list[float], [],
              "speed limit per joint, in joint_names order [rad/s or m/s] (required): the target "
              "moves at most max_velocity * dt per control period",
              (NonEmpty(), Finite(), Positive())),
    Parameter("rate_hz", float, 30.0,
              "control rate [Hz]: the watchdog timer's rate; dt = 1 / rate_hz for the rate limit",
              (InRange(1.0, 1000.0),)),
    Parameter("watchdog_timeout", float, 0.2,
              "hold the last safe position when no fresh /hand/command arrived for this long [s]",
              (InRange(0.0, 10.0, lo_inclusive=False),)),
    Parameter("reject_log_period", float, 1.0,
              "at most one log line per this many seconds about rejected or ignored commands [s]",
              (InRange(0.0, 3600.0, lo_inclusive=False),)),
), checks=(
    equal_lengths("joint_names", "lower_limits", "upper_limits", "max_velocity"),
    lower_below_upper,
    watchdog_longer_than_a_period,
))


def joint_limits(values: ParameterValues) -> JointLimits:
    """The safety core's limits from validated parameter values."""
    return JointLimits(tuple(values.joint_names), lower=np.array(values.lower_limits),
                       upper=np.array(values.upper_limits), max_velocity=np.array(values.max_velocity))
