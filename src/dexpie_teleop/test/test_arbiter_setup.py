"""The arbiter node's pure parts: parameter schema, joint layout, pipeline from parameters, inputs."""
import dataclasses
import math

import numpy as np
import pytest

from dexpie_common.parameters import ParameterError
from dexpie_teleop import arbiter as arb
from dexpie_teleop.arbiter import ArbiterConfig
from dexpie_teleop.arbiter_inputs import ArbiterInputs, ButtonLatch, drives_tick, fallback_due
from dexpie_teleop.intervention_arbiter_parameters import SCHEMA
from dexpie_teleop.teleop import DeviceReading
from dexpie_teleop.teleop_setup import JointLayout, build_arbiter

# The hand's order interleaves fingers and arm joints: the core's order is arm first.
JOINTS = ["f0", "arm_y", "f1", "arm_x"]
ARM = ["arm_x", "arm_y"]
TWIST_TO_JOINT = [1, 0, 0, 0, 0, 0,     # arm_x <- vx
                  0, 0, 0, 0, 0, 2.0]   # arm_y <- 2 wz
REQUIRED = dict(joint_names=JOINTS, arm_joints=ARM, lower_limits=[0.0, -1.0, 0.0, -1.0],
                upper_limits=[1.5, 1.0, 1.2, 1.0], twist_to_joint=TWIST_TO_JOINT)


def test_every_arbiter_config_field_is_a_parameter_with_the_same_default():
    by_name = SCHEMA.by_name
    for f in dataclasses.fields(ArbiterConfig):
        assert f.name in by_name, f.name
        assert by_name[f.name].default == f.default, f.name


@pytest.mark.parametrize("overrides, named", [
    ({}, r"'joint_names' = \[\] rejected: is empty"),
    (dict(REQUIRED, takeover_deflection=1.5), "'takeover_deflection' = 1.5 rejected"),
    (dict(REQUIRED, motion_sustain_ticks=0), "'motion_sustain_ticks' = 0 rejected"),
    (dict(REQUIRED, device_timeout=math.inf), "'device_timeout' = inf rejected"),
    (dict(REQUIRED, twist_to_joint=[1.0] * 6), "twist_to_joint has 6 values, expected 12"),
    (dict(REQUIRED, arm_joints=["arm_x", "wrist"]), r"arm_joints \['wrist'\] are not in joint_names"),
    (dict(REQUIRED, lower_limits=[0.0, 0.0, 0.0]), "must have equal lengths"),
    (dict(REQUIRED, upper_limits=[1.5, -2.0, 1.2, 1.0]), r"above upper_limits for joint\(s\) \['arm_y'\]"),
    (dict(REQUIRED, max_arm_joint_speed=[1.0, 1.0, 1.0]), "max_arm_joint_speed has 3 values"),
    (dict(REQUIRED, spacemouse_deadband=0.2), "takeover_deflection 0.15 is inside the spacemouse deadband 0.2"),
    (dict(REQUIRED, marker_position_joints=["arm_x", "arm_y"]), "must name 0 or 3 joints"),
    (dict(REQUIRED, marker_position_matrix=[1.0, 0.0]), "marker_position_matrix must have 9 values"),
])
def test_schema_rejects_bad_values_naming_them(overrides, named):
    with pytest.raises(ParameterError, match=named):
        SCHEMA.validate(overrides)


def test_infinite_idle_time_and_glove_deviation_are_allowed():
    values = SCHEMA.validate(dict(REQUIRED, idle_handback_time=math.inf, glove_takeover_deviation=math.inf))
    _, arbiter = build_arbiter(values)
    assert math.isinf(arbiter.config.idle_handback_time)


def test_layout_puts_arm_joints_first_and_round_trips():
    layout = JointLayout(JOINTS, ARM)
    assert layout.finger_joints == ("f0", "f1") and layout.core_order == ("arm_x", "arm_y", "f0", "f1")
    values = np.array([10.0, 20.0, 30.0, 40.0])
    np.testing.assert_array_equal(layout.to_core(values), [40.0, 20.0, 10.0, 30.0])
    np.testing.assert_array_equal(layout.from_core(layout.to_core(values)), values)
    with pytest.raises(ValueError, match="not in joint_names"):
        JointLayout(JOINTS, ["wrist"])


def test_pipeline_from_parameters_moves_the_named_arm_joints_within_their_limits():
    values = SCHEMA.validate(dict(REQUIRED, rate_hz=10.0, spacemouse_deadband=0.0, takeover_deflection=0.0,
                                  spacemouse_max_linear_speed=0.5, spacemouse_max_angular_speed=0.5,
                                  max_arm_joint_speed=[10.0]))
    layout, arbiter = build_arbiter(values)
    teleop = arbiter.teleop
    assert teleop.dt == pytest.approx(0.1) and teleop.n_arm == 2
    measured = np.array([0.3, 0.5, 0.4, 0.2])  # joint order
    teleop.engage(layout.to_core(measured))
    # Full vx and full wz for one tick: arm_x += 0.5 * 0.1, arm_y += 2 * 0.5 * 0.1; glove 2.0 clips to 1.5.
    out = layout.from_core(teleop(DeviceReading(np.array([2.0, 0.7]), np.array([1.0, 0, 0, 0, 0, 1.0]))))
    np.testing.assert_allclose(out, [1.5, 0.6, 0.7, 0.25])
    for _ in range(20):
        out = layout.from_core(teleop(DeviceReading(np.array([2.0, 0.7]), np.array([1.0, 0, 0, 0, 0, 1.0]))))
    assert out[1] == 1.0 and out[3] == 1.0  # arm limits
    assert not arbiter.human_only


def test_button_latch_keeps_a_press_that_falls_between_two_ticks():
    latch = ButtonLatch()
    latch.update((True, False))
    latch.update((False, False))  # pressed and released before the tick
    assert latch.for_tick() == (True, False)
    assert latch.for_tick() == (False, False)  # the next tick sees the release
    latch.update((False, True))
    assert latch.for_tick() == (False, True)
    assert latch.for_tick() == (False, True)  # held: a level, not a new press
    latch.update((False, False))
    assert latch.for_tick() == (False, False)  # a release reaches the very next tick
    latch.update((False, True))
    assert latch.for_tick() == (False, True)


def test_inputs_refuse_bad_values_and_report_ages():
    inputs = ArbiterInputs(n_joints=4, n_fingers=2)
    assert inputs.device_reading(0.0)[0] is None  # nothing heard yet
    assert inputs.policy(0.0) == (None, math.inf)
    assert not inputs.set_measured([0.0, np.nan, 0.0, 0.0]) and inputs.measured is None
    assert not inputs.set_glove([0.1, 0.2, 0.3], 1.0) and not inputs.set_twist([0.0] * 5, 1.0)
    assert inputs.set_glove([0.1, 0.2], 1.0)
    assert inputs.device_reading(1.1)[0] is None  # the spacemouse not heard yet
    assert inputs.set_joy([0.5] * 6, [0, 1], 1.05)  # joy alone makes the spacemouse alive
    reading, glove_age, spacemouse_age = inputs.device_reading(1.1)
    np.testing.assert_array_equal(reading.spacemouse_axes, [0.5] * 6)
    assert reading.buttons == (False, True)
    assert glove_age == pytest.approx(0.1) and spacemouse_age == pytest.approx(0.05)
    assert inputs.set_twist([0.1, 0, 0, 0, 0, 0], 1.2)
    assert inputs.device_reading(1.2)[0].spacemouse_axes[0] == 0.1  # the latest axes, from either topic
    assert inputs.set_policy([1.0, 2.0, 3.0, 4.0], 2.0)
    command, age = inputs.policy(2.1)
    np.testing.assert_array_equal(command, [1.0, 2.0, 3.0, 4.0])
    assert age == pytest.approx(0.1)


def test_human_only_parameter_reaches_the_core():
    _, arbiter = build_arbiter(SCHEMA.validate(dict(REQUIRED, human_only=True)))
    out = arbiter.step(0.0, np.zeros(4), None, DeviceReading(np.zeros(2), np.zeros(6)))
    assert (out.source, out.reason) == (arb.SOURCE_HUMAN, arb.REASON_EPISODE_BOUNDARY)


def test_who_drives_the_tick():
    # The policy's command while it is in control; the hardware's joint states otherwise.
    assert drives_tick("policy_command", arb.SOURCE_POLICY) and not drives_tick("joint_states", arb.SOURCE_POLICY)
    for source in (arb.SOURCE_HUMAN, arb.SOURCE_SAFETY_HOLD):
        assert drives_tick("joint_states", source) and not drives_tick("policy_command", source)
    with pytest.raises(ValueError, match="glove"):
        drives_tick("glove", arb.SOURCE_HUMAN)
    assert fallback_due(0.0, -math.inf, 0.1)
    assert not fallback_due(2.14, 2.0, 0.1) and fallback_due(2.16, 2.0, 0.1)  # 1.5 periods
