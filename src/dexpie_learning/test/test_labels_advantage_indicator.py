"""Chunk-window advantages (episode ends), indicator quantiles/beta, forcing on human windows."""
import numpy as np
import pytest

from dexpie_learning.critic import ReturnConfig
from dexpie_learning.labels import (MIN_BETA, IndicatorParams, binary_indicator,
                                    chunk_advantages, continuous_indicator, fit_indicator,
                                    human_windows, label_dataset, window_lengths)


def test_window_lengths_shrink_to_one_at_the_end():
    np.testing.assert_array_equal(window_lengths(6, 4), [4, 4, 4, 3, 2, 1])
    np.testing.assert_array_equal(window_lengths(3, 8), [3, 2, 1])


def test_advantage_hand_computed_including_episode_end():
    values = np.array([-0.5, -0.4, -0.45, -0.2, -0.1, -0.3])
    L, H = 10, 3
    adv = chunk_advantages(values, H, L)
    # t = 0: n = 3 -> -2/10 + V[2] - V[0] = -0.2 + 0.05
    assert adv[0] == pytest.approx(-0.2 + (-0.45 + 0.5))
    assert adv[2] == pytest.approx(-0.2 + (-0.1 + 0.45))
    # t = 3: n = 3 (T - t = 3) -> -0.2 + V[5] - V[3]
    assert adv[3] == pytest.approx(-0.2 + (-0.3 + 0.2))
    # t = 4: n = 2 -> -0.1 + V[5] - V[4]
    assert adv[4] == pytest.approx(-0.1 + (-0.3 + 0.1))
    # t = T - 1: n = 1, nothing executed after it.
    assert adv[5] == 0.0
    assert chunk_advantages(np.array([-0.7]), H, L)[0] == 0.0


def test_advantage_of_a_perfect_value_function_on_a_success_is_zero():
    # V_t = -(T-1-t)/L exactly: each window's step cost is matched by the value increase.
    T, L = 30, 50
    values = -(T - 1 - np.arange(T)) / L
    np.testing.assert_allclose(chunk_advantages(values, 8, L), 0.0, atol=1e-12)


def test_advantage_rejects_bad_values():
    with pytest.raises(ValueError):
        chunk_advantages(np.array([-0.1, np.nan]), 4, 10)
    with pytest.raises(ValueError):
        chunk_advantages(np.zeros((3, 2)), 4, 10)


def test_quantiles_and_beta():
    advantages = [np.arange(0, 50, dtype=float) / 100, np.arange(50, 101, dtype=float) / 100]
    params = fit_indicator(advantages)
    # 0.00 .. 1.00 in steps of 0.01 (101 values): q_0.6 = 0.6, q_0.8 = 0.8.
    assert params.q_low == pytest.approx(0.6) and params.q_high == pytest.approx(0.8)
    assert params.beta == pytest.approx(0.04) and not params.beta_guarded
    s = continuous_indicator(np.array([0.6, 0.8, 0.4, 1.0]), np.zeros(4, bool), 2, params)
    np.testing.assert_allclose(s, [0.5, 1 / (1 + np.exp(-5)), 1 / (1 + np.exp(5)),
                                   1 / (1 + np.exp(-10))])


def test_beta_guard_when_quantiles_coincide():
    params = fit_indicator([np.zeros(20), np.array([0.0, 0.0, 1.0])])
    assert params.q_low == params.q_high == 0.0
    assert params.beta_guarded and params.beta == MIN_BETA
    s = continuous_indicator(np.array([-1e-3, 0.0, 1e-3, -5.0]), np.zeros(4, bool), 4, params)
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0, 0.0], atol=1e-12)
    assert np.all(np.isfinite(s))


def test_human_windows_only_when_every_step_is_human():
    intervention = np.array([0, 1, 1, 1, 1, 0, 1, 1], dtype=bool)
    # H = 3: t=1 covers 1..3 (all human), t=2 covers 2..4 (all), t=3 covers 3..5 (5 is not),
    # t=6 covers 6..7 (n = 2, all human), t=7 covers 7 (n = 1, human).
    np.testing.assert_array_equal(human_windows(intervention, 3),
                                  [0, 1, 1, 0, 0, 0, 1, 1])


def test_indicators_forced_to_one_for_fully_human_windows_only():
    params = IndicatorParams(q_low=0.0, q_high=0.1, beta=0.02, beta_guarded=False)
    advantages = np.array([-0.5, -0.5, -0.5, -0.5, 0.05])
    intervention = np.array([1, 1, 0, 1, 1], dtype=bool)
    s = continuous_indicator(advantages, intervention, 2, params)
    b = binary_indicator(advantages, intervention, 2, params)
    # t = 0: window 0..1 fully human -> forced 1. t = 1: 1..2 partly human -> not forced.
    # t = 3: 3..4 fully human -> 1. t = 4: 4 alone, human -> 1.
    assert s[0] == 1.0 and s[3] == 1.0 and s[4] == 1.0
    assert s[1] < 1e-9 and s[2] < 1e-9
    np.testing.assert_array_equal(b, [1, 0, 0, 1, 1])


def test_binary_indicator_is_the_top_40_percent():
    rng = np.random.default_rng(0)
    advantages = [rng.normal(size=137), rng.normal(size=263)]
    params = fit_indicator(advantages)
    ones = np.concatenate([binary_indicator(a, np.zeros(len(a), bool), 8, params)
                           for a in advantages])
    assert ones.mean() == pytest.approx(0.4, abs=0.005)
    s = np.concatenate([continuous_indicator(a, np.zeros(len(a), bool), 8, params)
                        for a in advantages])
    assert np.all((s >= 0) & (s <= 1))
    # The continuous score is monotone in A and is > 0.5 exactly where b = 1 (A > q_0.6).
    assert np.array_equal(s > 0.5, np.concatenate(advantages) > params.q_low)


def test_label_dataset_fits_quantiles_over_all_episodes():
    rng = np.random.default_rng(1)
    values = {f"e{i}": np.sort(rng.uniform(-1, 0, size=20 + i)) for i in range(4)}
    interventions = {k: np.zeros(len(v), bool) for k, v in values.items()}
    interventions["e2"][:] = True
    labels = label_dataset(values, interventions, horizon=4, returns=ReturnConfig(50))
    pooled = np.concatenate([labels.episodes[k].advantages for k in sorted(values)])
    assert labels.indicator.q_low == pytest.approx(np.quantile(pooled, 0.6))
    assert labels.indicator.q_high == pytest.approx(np.quantile(pooled, 0.8))
    assert np.all(labels.episodes["e2"].optimality == 1.0)
    assert np.all(labels.episodes["e2"].human_window)
    np.testing.assert_array_equal(labels.episodes["e1"].advantages,
                                  chunk_advantages(values["e1"], 4, 50))
    with pytest.raises(ValueError, match="only in values \\['e3'\\]"):
        label_dataset(values, {k: interventions[k] for k in ("e0", "e1", "e2")}, 4,
                      ReturnConfig(50))


def test_human_override_rule_decides_whose_human_windows_are_forced():
    # e_ok: a successful fully-human episode (a demo); e_fail: a failed one (a demo that did
    # not work); e_mix: a failed rollout with a correction. Values fall steadily, so every
    # critic score of a human tick is well below 1.
    values = {k: np.linspace(-0.2, -0.9, 12) for k in ("e_ok", "e_fail", "e_mix")}
    interventions = {"e_ok": np.ones(12, bool), "e_fail": np.ones(12, bool),
                     "e_mix": np.r_[np.zeros(4, bool), np.ones(8, bool)]}
    successes = {"e_ok": True, "e_fail": False, "e_mix": False}
    returns = ReturnConfig(50)
    rules = {rule: label_dataset(values, interventions, 4, returns, human_override=rule,
                                 successes=successes) for rule in ("all", "successful", "none")}
    critic_only = rules["none"]
    for rule, labels in rules.items():
        assert labels.extra["human_override"] == rule
        assert labels.indicator == critic_only.indicator   # quantiles do not depend on it
        for k in values:   # the fact stays recorded whatever the rule
            np.testing.assert_array_equal(labels.episodes[k].human_window,
                                          human_windows(interventions[k], 4))
    forced = {"all": {"e_ok", "e_fail", "e_mix"}, "successful": {"e_ok"}, "none": set()}
    for rule, labels in rules.items():
        for k in values:
            human = labels.episodes[k].human_window
            expected_s = (np.where(human, 1.0, critic_only.episodes[k].optimality)
                          if k in forced[rule] else critic_only.episodes[k].optimality)
            np.testing.assert_array_equal(labels.episodes[k].optimality, expected_s,
                                          err_msg=f"{rule} {k}")
            expected_b = (np.where(human, 1.0, critic_only.episodes[k].binary_indicator)
                          if k in forced[rule] else critic_only.episodes[k].binary_indicator)
            np.testing.assert_array_equal(labels.episodes[k].binary_indicator, expected_b)
    assert np.all(critic_only.episodes["e_fail"].optimality < 1.0)
    with pytest.raises(ValueError, match="no outcome for episodes \\['e_mix'\\]"):
        label_dataset(values, interventions, 4, returns, human_override="successful",
                      successes={"e_ok": True, "e_fail": False})
    with pytest.raises(ValueError, match="human_override must be one of"):
        label_dataset(values, interventions, 4, returns, human_override="some")
