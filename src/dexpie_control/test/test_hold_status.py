from dexpie_control.hold_status import HoldStatus
from dexpie_control.safety import HoldReason


def test_one_transition_per_change_and_the_flag_changes_only_with_holding():
    status = HoldStatus(watchdog_timeout=0.2)
    first = status.update(HoldReason.NO_COMMAND_YET)
    assert first.holding and first.holding_changed and not first.warning
    assert status.update(HoldReason.NO_COMMAND_YET) is None
    tracking = status.update(HoldReason.NONE)
    assert not tracking.holding and tracking.holding_changed and "tracking" in tracking.message
    assert status.update(HoldReason.NONE) is None
    stale = status.update(HoldReason.STALE_COMMAND, command_age=0.2345)
    assert stale.holding and stale.holding_changed and stale.warning
    assert "watchdog_timeout = 0.2 s" in stale.message and "0.234 s ago" in stale.message
    estop = status.update(HoldReason.ESTOP)
    assert estop.holding and not estop.holding_changed and "reset_estop" in estop.message
    assert status.update(HoldReason.ESTOP) is None and status.holding


def test_first_report_may_be_tracking():
    status = HoldStatus(watchdog_timeout=0.2)
    assert status.holding is None
    first = status.update(HoldReason.NONE)
    assert first.holding_changed and first.holding is False
