"""Cross-fitting split and labelling, and the held-out diagnostics (ranking, curves)."""
import numpy as np
import pytest
import torch

from dexpie_learning.critic import (CrossFitError, cross_fit_values, plot_value_curves,
                                    ranking_accuracy, split_episodes, value_target_correlation)
from test_critic_model import synthetic_episode, tiny_config


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def mixed_episodes(num_success=7, num_failure=5, seed=0):
    rng = np.random.default_rng(seed)
    stages = ("init", "grasped")
    episodes = [synthetic_episode(i, True, rng, stage=stages[i % 2]) for i in range(num_success)]
    episodes += [synthetic_episode(100 + i, False, rng, stage=stages[i % 2])
                 for i in range(num_failure)]
    return episodes


def test_split_is_disjoint_complete_stratified_and_seeded():
    episodes = mixed_episodes()
    success = {e.episode_id: e.success for e in episodes}
    half0, half1 = split_episodes(episodes, seed=3)
    assert set(half0).isdisjoint(half1)
    assert set(half0) | set(half1) == set(success)
    for outcome, count in ((True, 7), (False, 5)):
        counts = [sum(success[i] == outcome for i in half) for half in (half0, half1)]
        assert sorted(counts) == [count // 2, count - count // 2]
    assert split_episodes(episodes, seed=3) == (half0, half1)
    assert any(split_episodes(episodes, seed=s) != (half0, half1) for s in range(4, 10))


@pytest.mark.parametrize("num_failure", [0, 1])
def test_split_without_two_failures_still_fills_both_halves(num_failure):
    episodes = mixed_episodes(num_success=6, num_failure=num_failure)
    half0, half1 = split_episodes(episodes, seed=2)
    assert set(half0) | set(half1) == {e.episode_id for e in episodes}
    successes = {e.episode_id for e in episodes if e.success}
    assert sorted(len(successes & set(h)) for h in (half0, half1)) == [3, 3]


def test_split_needs_two_episodes():
    with pytest.raises(CrossFitError, match="at least 2 episodes"):
        split_episodes(mixed_episodes(num_success=1, num_failure=0))


def test_cross_fit_labels_every_episode_once_with_the_other_critic():
    episodes = mixed_episodes()
    result = cross_fit_values(episodes, tiny_config(), steps=4, batch_size=16, seed=1,
                              progress=False)
    assert set(result.values) == {e.episode_id for e in episodes}
    assert set(result.halves[0]).isdisjoint(result.halves[1])
    for episode in episodes:
        in_half = 0 if episode.episode_id in result.halves[0] else 1
        labeller = result.labelled_by[episode.episode_id]
        assert labeller == 1 - in_half
        np.testing.assert_array_equal(result.values[episode.episode_id],
                                      result.critics[labeller].episode_values(episode))
        # The two critics differ, so the check above could fail with the wrong critic.
        assert not np.array_equal(result.values[episode.episode_id],
                                  result.critics[in_half].episode_values(episode))
    # Each critic's statistics come from its own half only.
    means = [c.stats.features["observation.state"].mean for c in result.critics]
    assert not np.allclose(means[0], means[1])
    assert [len(losses) for losses in result.losses] == [4, 4]


def test_cross_fitted_critics_rank_held_out_episodes():
    episodes = mixed_episodes(num_success=10, num_failure=10, seed=5)
    result = cross_fit_values(episodes, tiny_config(), steps=150, batch_size=64, lr=3e-3,
                              seed=0, progress=False)
    ranking = ranking_accuracy(result.values, episodes)
    assert ranking.same_stage and ranking.stages == ("grasped", "init")
    assert ranking.num_pairs == 2 * 5 * 5
    assert ranking.accuracy >= 0.85, ranking
    assert value_target_correlation(result.values, episodes) > 0.5


def test_ranking_accuracy_definition_on_hand_made_values():
    episodes = mixed_episodes(num_success=4, num_failure=4)
    # Stage "init": successes ep000, ep002; failures ep100, ep102. "grasped": the odd ones.
    scores = {"ep000": -0.2, "ep002": -0.5, "ep100": -0.5, "ep102": -0.9,
              "ep001": -0.3, "ep003": -0.1, "ep101": -0.2, "ep103": -0.6}
    values = {e.episode_id: np.full(e.num_steps, scores[e.episode_id]) for e in episodes}
    result = ranking_accuracy(values, episodes)
    # init: (-0.2 > -0.5) 1, (-0.2 > -0.9) 1, (-0.5 = -0.5) 0.5, (-0.5 > -0.9) 1 -> 3.5
    # grasped: (-0.3 < -0.2) 0, (-0.3 > -0.6) 1, (-0.1 > -0.2) 1, (-0.1 > -0.6) 1 -> 3
    assert result.num_pairs == 8 and result.same_stage
    assert result.accuracy == pytest.approx(6.5 / 8)


def test_ranking_falls_back_to_all_pairs_without_a_mixed_stage():
    rng = np.random.default_rng(0)
    episodes = [synthetic_episode(0, True, rng, stage="init"),
                synthetic_episode(1, False, rng, stage="grasped"),
                synthetic_episode(2, False, rng, stage="grasped")]
    values = {"ep000": np.zeros(episodes[0].num_steps) - 0.1,
              "ep001": np.zeros(episodes[1].num_steps) - 0.5,
              "ep002": np.zeros(episodes[2].num_steps)}
    result = ranking_accuracy(values, episodes)
    assert not result.same_stage and result.num_pairs == 2 and result.accuracy == 0.5


def test_value_curve_png(tmp_path):
    episodes = mixed_episodes(num_success=3, num_failure=3)
    values = {e.episode_id: e.return_target * 0.9 for e in episodes}
    path = plot_value_curves(values, episodes, tmp_path / "values.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
