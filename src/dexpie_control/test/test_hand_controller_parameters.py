"""The hand_controller parameter schema: complete, and a bad value is rejected by name."""
import numpy as np
import pytest

from dexpie_common.parameters import ParameterError
from dexpie_control.hand_controller_parameters import SCHEMA, joint_limits

GOOD = {"joint_names": ["a", "b", "c"], "lower_limits": [-1.0, 0.0, -0.5],
        "upper_limits": [1.0, 1.6, 0.5], "max_velocity": [3.0, 3.0, 0.3]}


def with_(**changes):
    return {**GOOD, **changes}


def test_defaults_and_limits():
    values = SCHEMA.validate(GOOD)
    assert values.rate_hz == 30.0 and values.watchdog_timeout == 0.2
    limits = joint_limits(values)
    assert limits.names == ("a", "b", "c")
    np.testing.assert_array_equal(limits.upper, [1.0, 1.6, 0.5])
    assert "hand_controller:" in SCHEMA.default_yaml() and "max_velocity" in SCHEMA.markdown_table()


@pytest.mark.parametrize("overrides,expected", [
    ({}, r"'joint_names' = \[\] rejected: is empty"),
    (with_(joint_names=["a", "b", "a"]), r"'joint_names' .* 'a' appears twice"),
    (with_(lower_limits=[-1.0, 2.0, -0.5]), r"joint\(s\) 'b' \(lower 2.0 >= upper 1.6\)"),
    (with_(upper_limits=[1.0, 1.6, -0.5]), r"joint\(s\) 'c' \(lower -0.5 >= upper -0.5\)"),
    (with_(upper_limits=[1.0, 1.6]), r"equal lengths.*'upper_limits': 2"),
    (with_(max_velocity=[3.0, 3.0]), r"equal lengths.*'max_velocity': 2"),
    (with_(max_velocity=[3.0, 0.0, 0.3]), r"'max_velocity' .* 0.0 is outside"),
    (with_(lower_limits=[-1.0, float("nan"), -0.5]), r"'lower_limits' .* nan is not finite"),
    (with_(upper_limits=[float("inf"), 1.6, 0.5]), r"'upper_limits' .* inf is not finite"),
    (with_(rate_hz=0.5), r"'rate_hz' = 0.5 rejected"),
    (with_(watchdog_timeout=-1.0), r"'watchdog_timeout' = -1.0 rejected"),
    (with_(rate_hz=10.0, watchdog_timeout=0.05), r"watchdog_timeout = 0.05 s rejected: .* 0.1 s"),
    (with_(rate_hz="fast"), r"'rate_hz' must be float, got 'fast'"),
    (with_(max_speed=[1.0]), r"unknown parameter\(s\) \['max_speed'\]"),
])
def test_bad_values_are_rejected_naming_them(overrides, expected):
    with pytest.raises(ParameterError, match=expected):
        SCHEMA.validate(overrides)
