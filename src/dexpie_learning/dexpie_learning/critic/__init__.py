"""Distributional critic (pure torch/numpy): return targets, value bins, model, training,
cross-fitting, checkpoints and diagnostics.

Typical use (the `train` CLI does this):

    from dexpie_learning.critic import (CriticConfig, ReturnConfig, critic_episode,
                                        cross_fit_values, save_critic, ranking_accuracy)
    returns = ReturnConfig(max_episode_steps=task_spec(task).max_episode_steps)
    episodes = [critic_episode(ep, returns, use_object_state=True) for ep in recorded
                if ep.outcome in (OUTCOME_SUCCESS, OUTCOME_FAILURE)]
    config = CriticConfig(state_dim=J, object_dim=K)
    result = cross_fit_values(episodes, config, steps=3000, batch_size=256, seed=0)
    # result.values[episode_id] -> (T,) V(o_t) from the critic that did not see it
    for i, critic in enumerate(result.critics):
        save_critic(out / f"critic_{i}", critic, metadata={"returns": returns.to_dict(),
                                                           "trained_on": result.halves[i]})

Public API:
    ReturnConfig(max_episode_steps, failure_penalty=1.0, failure_decay=0.99)
    return_targets(num_steps, outcome, config) -> (T,) clip(G_t / L, -1, 0)
    raw_returns(num_steps, outcome, config) -> (T,) G_t;  outcome_is_success(outcome) -> bool
    OutcomeError: aborted / unknown outcomes are not labels
    bin_centers(K), smoothed_one_hot(values (N,), K, sigma_bins=1) -> (N, K),
    expected_value(probs (..., K)) -> (...,)
    CriticConfig(state_dim, object_dim=0, camera_names=(), image_size=(64, 64), ...,
                 hidden_size=256, num_layers=3, num_bins=201, target_sigma_bins=1.0)
    CriticEpisode(episode_id, stage, success, joint_positions, return_target, intervention,
                  object_state=None, images={});  critic_episode(episode, returns, ...)
    DistributionalCritic(config, stats): .logits(obs), .compute_loss(obs, targets),
        .value(obs) -> (B,), .episode_values(episode) -> (T,) numpy
    train_critic(episodes, config, steps, batch_size=256, lr=3e-4, seed=0, progress=True)
        -> (critic, losses)
    split_episodes(episodes, seed) -> (ids half 0, ids half 1)
    cross_fit_values(episodes, config, steps, batch_size, lr, seed, progress) -> CrossFitResult
    save_critic(dir, critic, metadata=None) -> dir;  load_critic(dir) -> (critic, metadata)
    ranking_accuracy(values, episodes) -> RankingResult
    value_target_correlation(values, episodes) -> float
    plot_value_curves(values, episodes, path, title=...) -> path
"""
from dexpie_learning.critic.bins import (DEFAULT_NUM_BINS, bin_centers, expected_value,
                                         smoothed_one_hot)
from dexpie_learning.critic.checkpoint import CriticCheckpointError, load_critic, save_critic
from dexpie_learning.critic.configuration_critic import (CRITIC_TYPE, CriticConfig,
                                                         CriticConfigError)
from dexpie_learning.critic.cross_fit import (CrossFitError, CrossFitResult, cross_fit_values,
                                              split_episodes)
from dexpie_learning.critic.data import CriticEpisode, critic_episode
from dexpie_learning.critic.diagnostics import (RankingResult, plot_value_curves,
                                                ranking_accuracy, value_target_correlation)
from dexpie_learning.critic.modeling_critic import DistributionalCritic
from dexpie_learning.critic.returns import (DEFAULT_FAILURE_DECAY, DEFAULT_FAILURE_PENALTY,
                                            OutcomeError, ReturnConfig, outcome_is_success,
                                            raw_returns, return_targets)
from dexpie_learning.critic.training import CriticSamples, train_critic

__all__ = [
    "CRITIC_TYPE", "DEFAULT_FAILURE_DECAY", "DEFAULT_FAILURE_PENALTY", "DEFAULT_NUM_BINS",
    "CriticCheckpointError", "CriticConfig", "CriticConfigError", "CriticEpisode",
    "CriticSamples", "CrossFitError", "CrossFitResult", "DistributionalCritic", "OutcomeError",
    "RankingResult", "ReturnConfig", "bin_centers", "critic_episode", "cross_fit_values",
    "expected_value", "load_critic", "outcome_is_success", "plot_value_curves",
    "ranking_accuracy", "raw_returns", "return_targets", "save_critic", "smoothed_one_hot",
    "split_episodes", "train_critic", "value_target_correlation",
]
