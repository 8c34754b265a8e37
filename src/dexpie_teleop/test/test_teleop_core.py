import numpy as np
import pytest

from dexpie_teleop.glove import GloveCalibration, GloveReadingError, GloveRetargeter
from dexpie_teleop.spacemouse import (SpacemouseConfig, SpacemouseFilter, SpacemouseReadingError,
                                      TwistIntegrator)
from dexpie_teleop.teleop import DeviceReading, TeleopPipeline


def make_retargeter():
    cal = GloveCalibration.one_to_one(["j0", "j1", "j2"], lower=[0, 0, -1], upper=[1.6, 1.6, 1],
                                      scale=[1.0, 0.5, 2.0], offset=[0.0, 0.1, 0.0])
    return GloveRetargeter(cal)


def test_glove_retargeting_is_linear_and_clipped():
    r = make_retargeter()
    np.testing.assert_allclose(r(np.array([0.5, 1.0, 0.25])), [0.5, 0.6, 0.5])
    np.testing.assert_allclose(r(np.array([5.0, -5.0, 5.0])), [1.6, 0.0, 1.0])


def test_glove_inverse_round_trips_inside_limits():
    r = make_retargeter()
    target = np.array([0.3, 0.7, -0.4])
    np.testing.assert_allclose(r(r.glove_for(target)), target)


@pytest.mark.parametrize("bad", [np.array([0.1, np.nan, 0.0]), np.array([np.inf, 0, 0]), np.zeros(2)])
def test_glove_rejects_bad_readings(bad):
    with pytest.raises(GloveReadingError):
        make_retargeter()(bad)


def test_glove_calibration_validates_shapes():
    with pytest.raises(ValueError, match="matrix"):
        GloveCalibration(("a",), ("g0", "g1"), np.eye(2), np.zeros(1), np.zeros(1), np.ones(1))


def test_spacemouse_deadband_clip_and_continuity():
    f = SpacemouseFilter(SpacemouseConfig(deadband=0.1, max_linear_speed=0.2, max_angular_speed=1.0))
    np.testing.assert_array_equal(f(np.array([0.05, -0.09, 0, 0, 0.1, 0])), np.zeros(6))
    full = f(np.array([1, -1, 3.0, 0, 0, -1]))
    np.testing.assert_allclose(full, [0.2, -0.2, 0.2, 0, 0, -1.0])
    just_outside = f(np.array([0.1 + 1e-6, 0, 0, 0, 0, 0]))
    assert 0 < just_outside[0] < 1e-5  # no step at the deadband edge


def test_spacemouse_inverse():
    f = SpacemouseFilter()
    twist = np.array([0.1, -0.05, 0.0, 0.3, 0.0, -0.2])
    np.testing.assert_allclose(f(f.axes_for(twist)), twist, atol=1e-12)


def test_spacemouse_rejects_nan():
    with pytest.raises(SpacemouseReadingError):
        SpacemouseFilter()(np.array([0, 0, np.nan, 0, 0, 0]))


def test_integrator_clutch_starts_from_measured_pose_and_rate_limits():
    mapping = np.hstack([np.eye(3), np.zeros((3, 3))])
    integ = TwistIntegrator(mapping, lower=-np.ones(3), upper=np.ones(3), max_joint_speed=0.5)
    with pytest.raises(RuntimeError):
        integ.step(np.zeros(6), 0.1)
    measured = np.array([0.2, -0.3, 0.4])
    np.testing.assert_array_equal(integ.engage(measured), measured)
    # Zero twist keeps the target exactly where the robot was: no jump at takeover.
    np.testing.assert_array_equal(integ.step(np.zeros(6), 0.1), measured)
    moved = integ.step(np.array([10.0, 0, 0, 0, 0, 0]), 0.1)
    np.testing.assert_allclose(moved, measured + [0.05, 0, 0])  # 0.5 rad/s * 0.1 s
    for _ in range(100):
        moved = integ.step(np.array([10.0, 0, 0, 0, 0, 0]), 0.1)
    assert moved[0] == 1.0  # joint limit
    integ.release()
    assert not integ.engaged


def test_pipeline_combines_arm_and_fingers_without_jump():
    mapping = np.hstack([np.eye(2), np.zeros((2, 4))])
    integ = TwistIntegrator(mapping, lower=-np.ones(2), upper=np.ones(2), max_joint_speed=1.0)
    pipe = TeleopPipeline(make_retargeter(), SpacemouseFilter(), integ, dt=1 / 30)
    measured = np.array([0.3, -0.2, 0.5, 0.6, 0.0])
    pipe.engage(measured)
    out = pipe(DeviceReading(glove=np.array([0.5, 1.0, 0.0]), spacemouse_axes=np.zeros(6)))
    np.testing.assert_allclose(out, [0.3, -0.2, 0.5, 0.6, 0.0])
    desired = np.array([0.305, -0.2])  # 0.15 m/s: inside the puck's range
    twist = integ.twist_towards(desired, pipe.dt)
    out = pipe(DeviceReading(glove=np.array([0.5, 1.0, 0.0]), spacemouse_axes=pipe.spacemouse.axes_for(twist)))
    np.testing.assert_allclose(out[:2], desired, atol=1e-9)


def test_pipeline_saturates_at_the_puck_speed():
    mapping = np.hstack([np.eye(2), np.zeros((2, 4))])
    integ = TwistIntegrator(mapping, lower=-np.ones(2), upper=np.ones(2), max_joint_speed=10.0)
    pipe = TeleopPipeline(make_retargeter(), SpacemouseFilter(SpacemouseConfig(max_linear_speed=0.25)), integ, dt=0.1)
    pipe.engage(np.zeros(5))
    twist = integ.twist_towards(np.array([0.5, 0.0]), pipe.dt)
    out = pipe(DeviceReading(glove=np.zeros(3), spacemouse_axes=pipe.spacemouse.axes_for(twist)))
    np.testing.assert_allclose(out[:2], [0.025, 0.0])
