import numpy as np
import pytest

from dexpie_control.safety import CommandRejected, HoldReason, JointLimits, SafetyFilter

NAMES = ("a", "b", "c")


def make_filter(timeout=0.1):
    limits = JointLimits(NAMES, lower=np.array([-1.0, 0.0, -0.5]), upper=np.array([1.0, 1.6, 0.5]),
                         max_velocity=np.array([3.0, 3.0, 0.3]))
    f = SafetyFilter(limits, dt=0.01, watchdog_timeout=timeout)
    f.start(np.zeros(3))
    return f


def test_holds_until_first_command():
    f = make_filter()
    out = f.tick(0.0)
    assert out.hold is HoldReason.NO_COMMAND_YET
    np.testing.assert_array_equal(out.target, [0.0, 0.0, 0.0])


def test_reorders_clips_and_rate_limits():
    f = make_filter(timeout=1.0)
    f.command(["c", "a", "b"], [0.001, 0.02, 5.0], now=0.0)
    out = f.tick(0.0)
    # b: clipped to 1.6 then rate-limited to 0.03 per tick; c within 0.003 per tick.
    np.testing.assert_allclose(out.target, [0.02, 0.03, 0.001])
    assert out.clipped and out.hold is HoldReason.NONE
    for k in range(1, 100):  # one control period apart (the step is limited by elapsed time)
        out = f.tick(0.01 * k)
    np.testing.assert_allclose(out.target, [0.02, 1.6, 0.001])
    assert np.all(out.target <= f.limits.upper)


@pytest.mark.parametrize("names,positions,why", [
    (["a", "b", "c"], [0.1, np.nan, 0.0], "non-finite"),
    (["a", "b", "c"], [np.inf, 0.0, 0.0], "non-finite"),
    (["a", "b", "x"], [0.0, 0.0, 0.0], "unknown"),
    (["a", "b"], [0.0, 0.0], "missing"),
    (["a", "b", "c"], [0.0, 0.0], "names but"),
])
def test_bad_commands_are_rejected_whole_and_hand_keeps_safe_target(names, positions, why):
    f = make_filter()
    f.command(NAMES, [0.01, 0.01, 0.0], now=0.0)
    before = f.tick(0.0).target
    with pytest.raises(CommandRejected, match=why):
        f.command(names, positions, now=0.005)
    out = f.tick(0.005)
    np.testing.assert_allclose(out.target, [0.01, 0.01, 0.0])  # still the last good command
    assert np.all(np.isfinite(out.target)) and f.rejected_count == 1
    assert np.all(np.abs(out.target - before) <= f.limits.max_velocity * f.dt + 1e-12)


def test_watchdog_holds_on_stale_commands_and_resumes():
    f = make_filter(timeout=0.1)
    f.command(NAMES, [0.5, 0.5, 0.0], now=0.0)
    f.tick(0.05)
    held = f.tick(0.2)
    assert held.hold is HoldReason.STALE_COMMAND
    assert f.tick(0.3).target.tolist() == held.target.tolist()
    f.command(NAMES, [0.5, 0.5, 0.0], now=0.31)
    assert f.tick(0.32).hold is HoldReason.NONE


def test_estop_latches_until_reset_and_a_fresh_command():
    f = make_filter()
    f.command(NAMES, [0.5, 0.5, 0.0], now=0.0)
    f.tick(0.0)
    f.estop()
    target = f.tick(0.01).target
    f.command(NAMES, [1.0, 1.0, 0.0], now=0.02)
    out = f.tick(0.02)
    assert out.hold is HoldReason.ESTOP and out.target.tolist() == target.tolist()
    f.reset_estop()
    assert f.tick(0.03).hold is HoldReason.NO_COMMAND_YET
    f.command(NAMES, [1.0, 1.0, 0.0], now=0.04)
    assert f.tick(0.04).hold is HoldReason.NONE


def test_limits_validation_names_the_joint():
    with pytest.raises(ValueError, match=r"\['b'\]"):
        JointLimits(NAMES, lower=np.array([0, 2.0, 0]), upper=np.array([1, 1.0, 1]), max_velocity=np.ones(3))
