"""The speed limit holds in rad/s however many ticks happen per control period (commands and
the watchdog timer both tick the filter)."""
import numpy as np

from dexpie_control.safety import HoldReason, JointLimits, SafetyFilter

DT = 0.02
MAX_VELOCITY = np.array([1.0, 2.0])


def started_filter():
    limits = JointLimits(("a", "b"), lower=-np.ones(2) * 10, upper=np.ones(2) * 10, max_velocity=MAX_VELOCITY)
    f = SafetyFilter(limits, dt=DT, watchdog_timeout=1.0)
    f.start(np.zeros(2))
    return f


def test_first_tick_after_start_moves_one_full_period():
    f = started_filter()
    f.command(["a", "b"], [5.0, -5.0], now=0.0)
    np.testing.assert_allclose(f.tick(0.0).target, [0.02, -0.04])


def test_extra_ticks_within_a_period_do_not_add_speed():
    f = started_filter()
    f.command(["a", "b"], [5.0, 5.0], now=0.0)
    f.tick(0.0)
    targets = [f.tick(0.0 + DT / 4 * k).target for k in range(1, 9)]  # 4 ticks per period
    steps = np.abs(np.diff(np.vstack([[0.02, 0.04]] + targets), axis=0))
    np.testing.assert_allclose(steps, np.tile(MAX_VELOCITY * DT / 4, (8, 1)))
    np.testing.assert_allclose(targets[-1], [0.02 + 2 * 0.02, 0.04 + 2 * 0.04])  # 2 periods later


def test_a_late_tick_moves_at_most_one_period_and_time_going_back_moves_nothing():
    f = started_filter()
    f.command(["a", "b"], [5.0, 5.0], now=0.0)
    first = f.tick(0.0).target
    f.command(["a", "b"], [5.0, 5.0], now=0.5)
    late = f.tick(0.5).target  # 25 periods later, one step only
    np.testing.assert_allclose(late - first, MAX_VELOCITY * DT)
    f.command(["a", "b"], [5.0, 5.0], now=0.1)
    np.testing.assert_allclose(f.tick(0.1).target, late)  # the clock went back: no step


def test_holding_ticks_count_as_ticks():
    """A command arriving just after a hold tick moves only for the time since that tick."""
    f = started_filter()
    assert f.tick(0.0).hold is HoldReason.NO_COMMAND_YET
    f.command(["a", "b"], [5.0, 5.0], now=0.005)
    np.testing.assert_allclose(f.tick(0.005).target, MAX_VELOCITY * 0.005)
