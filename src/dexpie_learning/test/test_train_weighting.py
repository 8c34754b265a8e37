"""Each method's sample selection / weights / indicator on a hand-made set of four tiny
episodes: a demo, a successful rollout with one intervention, a failed rollout with one, and
a failed rollout without any."""
from dataclasses import dataclass

import numpy as np
import pytest

from dexpie_learning.critic import ReturnConfig
from dexpie_learning.datasets import DatasetError
from dexpie_learning.labels import label_dataset
from dexpie_learning.train import weighting
from dexpie_learning.train.config import (AWRConfig, BCConfig, BinaryIndicatorConfig,
                                          FilteredBCConfig, HGDaggerConfig,
                                          IndicatorPolicyConfig, IWRConfig)
from dexpie_learning.train.data import TrainingData, human_effort
from dexpie_learning.train.methods import method_weights


@dataclass
class FakeEpisode:
    """The fields the weighting reads from an Episode."""
    episode_id: str
    intervention: np.ndarray
    success: bool

    @property
    def num_ticks(self):
        return len(self.intervention)


H, F = True, False
EPISODES = [
    FakeEpisode("demo", np.array([H] * 4), True),
    FakeEpisode("roll_ok", np.array([F, F, H, H, F, F]), True),
    FakeEpisode("roll_fail", np.array([F, H, F, F, F]), False),
    FakeEpisode("roll_none", np.array([F, F, F]), False),
]
IS_DEMO = [True, False, False, False]
DATA = TrainingData(EPISODES, IS_DEMO)
INTERVENTIONS = [e.intervention for e in EPISODES]


def test_human_effort_counts_demo_and_intervention_steps():
    effort = human_effort(EPISODES, IS_DEMO)
    assert effort == dict(demo_steps=4, intervention_steps=3, human_steps=7, robot_steps=11,
                          total_steps=18)


def test_bc_uses_demos_only():
    weights, optimality = method_weights("bc", BCConfig(), DATA)
    assert optimality is None
    assert [w.tolist() for w in weights] == [[1] * 4, [0] * 6, [0] * 5, [0] * 3]


def test_hg_dagger_keeps_demos_and_only_human_ticks_of_rollouts():
    weights, _ = method_weights("hg-dagger", HGDaggerConfig(), DATA)
    assert [w.tolist() for w in weights] == [[1, 1, 1, 1], [0, 0, 1, 1, 0, 0],
                                             [0, 1, 0, 0, 0], [0, 0, 0]]


def test_hg_dagger_on_successes_drops_the_corrections_of_failed_episodes():
    from dexpie_learning.train.config import HGDaggerSuccessConfig
    weights, _ = method_weights("hg-dagger-success", HGDaggerSuccessConfig(), DATA)
    # the failed rollout's correction (episode 3) is dropped; demo and successful one kept
    assert [w.tolist() for w in weights] == [[1, 1, 1, 1], [0, 0, 1, 1, 0, 0],
                                             [0, 0, 0, 0, 0], [0, 0, 0]]


def test_filtered_bc_drops_failed_episodes():
    weights, _ = method_weights("filtered-bc", FilteredBCConfig(), DATA)
    assert [w.tolist() for w in weights] == [[1] * 4, [1] * 6, [0] * 5, [0] * 3]


@pytest.mark.parametrize("ratio", [1.0, 3.0])
def test_iwr_balances_human_and_policy_weight(ratio):
    weights, _ = method_weights("iwr", IWRConfig(human_to_policy_weight_ratio=ratio), DATA)
    flat = np.concatenate(weights)
    human = np.concatenate(weighting.human_masks(INTERVENTIONS, IS_DEMO))
    assert human.sum() == 7 and (~human).sum() == 11
    # Constant within each class, the classes' totals in the configured ratio, mean 1.
    assert np.ptp(flat[human]) == 0 and np.ptp(flat[~human]) == 0
    assert flat[human].sum() / flat[~human].sum() == pytest.approx(ratio)
    assert flat.mean() == pytest.approx(1.0)
    # ratio 1: human weight = 18 / (2 * 7), policy weight = 18 / (2 * 11)
    if ratio == 1.0:
        assert flat[human][0] == pytest.approx(18 / 14) and flat[~human][0] == pytest.approx(18 / 22)


def test_iwr_without_interventions_is_plain_bc():
    weights = weighting.iwr_weights([np.zeros(3, bool)], [False])
    assert weights[0].tolist() == [1, 1, 1]


def test_awr_weights_are_clipped_and_normalised():
    advantages = [np.array([0.0, 0.1]), np.array([-0.1, 1.0, np.nan])]
    weights = weighting.awr_weights(advantages, temperature=0.1, max_weight=5.0)
    raw = np.array([1.0, np.e, np.exp(-1.0), 5.0, 0.0])      # exp(10) clipped to 5; NaN -> 0
    expected = raw * 5 / raw.sum()
    np.testing.assert_allclose(np.concatenate(weights), expected)
    assert np.concatenate(weights).mean() == pytest.approx(1.0)
    # Huge advantages do not overflow.
    assert np.all(np.isfinite(weighting.awr_weights([np.array([1e6, 0.0])], 1e-3, 20.0)[0]))


def _labels(horizon=2):
    """Values chosen so the advantages are distinct; labels made by dexpie_learning.labels."""
    rng = np.random.default_rng(0)
    values = {e.episode_id: -rng.uniform(0, 1, e.num_ticks) for e in EPISODES}
    return label_dataset(values, {e.episode_id: e.intervention for e in EPISODES}, horizon,
                         ReturnConfig(max_episode_steps=10))


def test_binary_indicator_is_top_40_percent_or_human_window():
    labels = _labels()
    weights, indicator = method_weights("binary-indicator", BinaryIndicatorConfig(), DATA, labels)
    assert all(np.all(w == 1) for w in weights)
    advantages = np.concatenate([labels.episodes[e.episode_id].advantages for e in EPISODES])
    human = np.concatenate([labels.episodes[e.episode_id].human_window for e in EPISODES])
    flat = np.concatenate(indicator)
    assert set(np.unique(flat)) <= {0.0, 1.0}
    top = advantages >= np.quantile(advantages, 0.6)
    np.testing.assert_array_equal(flat, (top | human).astype(float))
    assert abs(top.sum() - 0.4 * len(flat)) <= 1          # 7 of 18 (interpolated quantile)
    assert human[:4].all()                    # the demo is human throughout


def test_policy_gets_the_continuous_indicator_and_awr_the_advantages():
    labels = _labels()
    _, indicator = method_weights("policy", IndicatorPolicyConfig(), DATA, labels)
    for episode, s in zip(EPISODES, indicator):
        np.testing.assert_array_equal(s, labels.episodes[episode.episode_id].optimality)
    weights, none = method_weights("awr", AWRConfig(awr_temperature=0.5, max_weight=3.0),
                                   DATA, labels)
    assert none is None and np.concatenate(weights).mean() == pytest.approx(1.0)
    a = np.concatenate([labels.episodes[e.episode_id].advantages for e in EPISODES])
    np.testing.assert_allclose(np.concatenate(weights) / np.concatenate(weights)[0],
                               np.minimum(np.exp(a / 0.5), 3.0) / min(np.exp(a[0] / 0.5), 3.0))


def test_labelled_methods_need_labels():
    with pytest.raises(DatasetError, match="needs labels"):
        method_weights("awr", AWRConfig(), DATA)


def test_which_demonstrations_are_kept_by_outcome():
    from dexpie_episode import (OUTCOME_ABORTED, OUTCOME_FAILURE, OUTCOME_SUCCESS,
                                OUTCOME_UNKNOWN)
    from dexpie_learning.train.data import keeps_demonstration
    outcomes = (OUTCOME_SUCCESS, OUTCOME_FAILURE, OUTCOME_ABORTED, OUTCOME_UNKNOWN)
    assert [keeps_demonstration(o, "all") for o in outcomes] == [True] * 4
    # nothing says a demo of unknown outcome failed (a robot's recordings may carry none)
    assert [keeps_demonstration(o, "successful") for o in outcomes] == [True, False, False, True]
    with pytest.raises(ValueError, match="demonstrations must be 'all' or 'successful', got 'best'"):
        keeps_demonstration(OUTCOME_SUCCESS, "best")
