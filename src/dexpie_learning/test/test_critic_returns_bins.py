"""Return targets (success / failure / clipping / outcomes) and the value-bin projection."""
import numpy as np
import pytest
import torch

from dexpie_learning.critic import (OutcomeError, ReturnConfig, bin_centers, expected_value,
                                    raw_returns, return_targets, smoothed_one_hot)
from dexpie_episode import (OUTCOME_ABORTED, OUTCOME_FAILURE, OUTCOME_SUCCESS,
                                     OUTCOME_UNKNOWN)


def test_success_targets_hand_computed():
    config = ReturnConfig(max_episode_steps=100)
    targets = return_targets(50, OUTCOME_SUCCESS, config)
    assert targets.shape == (50,)
    # G_t = -(T - 1 - t): t = 0 -> -49, t = 30 -> -19, t = T-1 -> 0; divided by L = 100.
    assert targets[0] == pytest.approx(-0.49)
    assert targets[30] == pytest.approx(-0.19)
    assert targets[49] == 0.0
    assert np.all(np.diff(targets) > 0)


def test_failure_targets_hand_computed_and_clipped():
    config = ReturnConfig(max_episode_steps=100, failure_penalty=1.0, failure_decay=0.99)
    raw = raw_returns(50, OUTCOME_FAILURE, config)
    # t = T-1: G = 0 - 1 * 100 * 0.99**0 = -100 -> target -1.
    assert raw[49] == pytest.approx(-100.0)
    # t = 0: G = -49 - 100 * 0.99**49 = -49 - 61.1117... = -110.11 -> clipped to -1.
    assert raw[0] == pytest.approx(-49 - 100 * 0.99 ** 49)
    targets = return_targets(50, OUTCOME_FAILURE, config)
    assert targets[0] == -1.0 and targets[49] == -1.0
    # Half penalty: t = 49 -> -0.5; t = 0 -> (-49 - 50 * 0.99**49) / 100.
    half = return_targets(50, OUTCOME_FAILURE, ReturnConfig(100, failure_penalty=0.5))
    assert half[49] == pytest.approx(-0.5)
    assert half[0] == pytest.approx((-49 - 50 * 0.99 ** 49) / 100)
    assert half[20] == pytest.approx((-29 - 50 * 0.99 ** 29) / 100)
    assert np.all(targets <= return_targets(50, OUTCOME_SUCCESS, config))


def test_long_success_is_clipped_at_minus_one_and_bool_outcomes():
    config = ReturnConfig(max_episode_steps=10)
    targets = return_targets(15, True, config)
    assert targets[0] == -1.0 and targets[4] == -1.0 and targets[5] == pytest.approx(-0.9)
    assert np.array_equal(return_targets(15, OUTCOME_SUCCESS, config), targets)
    assert return_targets(1, False, config)[0] == -1.0


@pytest.mark.parametrize("outcome", [OUTCOME_ABORTED, OUTCOME_UNKNOWN, 7])
def test_non_final_outcomes_are_not_labels(outcome):
    with pytest.raises(OutcomeError):
        return_targets(10, outcome, ReturnConfig(max_episode_steps=10))


@pytest.mark.parametrize("kwargs", [dict(max_episode_steps=0), dict(max_episode_steps=1.5),
                                    dict(max_episode_steps=10, failure_decay=0.0),
                                    dict(max_episode_steps=10, failure_decay=1.2),
                                    dict(max_episode_steps=10, failure_penalty=-1.0)])
def test_return_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        ReturnConfig(**kwargs)


def test_bin_centers_span_minus_one_to_zero():
    centers = bin_centers(201)
    assert centers.shape == (201,)
    assert centers[0] == -1.0 and centers[-1] == 0.0
    assert torch.allclose(centers[1] - centers[0], torch.tensor(0.005))


def test_smoothed_one_hot_sums_to_one_and_keeps_expectation_inside():
    values = torch.tensor([-0.9, -0.5, -0.123, -0.03], dtype=torch.float64)
    probs = smoothed_one_hot(values, 201)
    assert probs.shape == (4, 201)
    assert torch.allclose(probs.sum(-1), torch.ones(4, dtype=torch.float64))
    assert torch.all(probs >= 0)
    assert torch.allclose(expected_value(probs), values, atol=1e-6)
    # The mode is the nearest bin, and sigma = 1 bin: the mass is local.
    assert int(probs[1].argmax()) == 100
    assert probs[1, 95:106].sum() > 0.999


def test_smoothed_one_hot_edges_stay_inside_support():
    probs = smoothed_one_hot(torch.tensor([0.0, -1.0]), 201)
    assert torch.allclose(probs.sum(-1), torch.ones(2))
    ev = expected_value(probs)
    # Truncated Gaussian: about 0.8 sigma (one bin = 0.005) inside the support, never outside.
    assert -0.006 < ev[0] < -0.002
    assert -0.998 < ev[1] < -0.994
    assert int(probs[0].argmax()) == 200 and int(probs[1].argmax()) == 0


@pytest.mark.parametrize("bad", [0.01, -1.01, float("nan")])
def test_smoothed_one_hot_rejects_values_outside_support(bad):
    with pytest.raises(ValueError):
        smoothed_one_hot(torch.tensor([-0.5, bad]), 201)
