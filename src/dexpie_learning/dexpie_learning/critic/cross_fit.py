"""Cross-fitting: every step is valued by a critic that never trained on its episode.

A critic evaluated on its own training episodes has memorised their outcomes (a failure's
early steps already "know" the failure), which would make the advantages of exactly the data
the policy is retrained on too confident. So the episodes are split in two halves, one
critic is trained per half, and each critic labels the steps of the OTHER half.

The split is by episode (all steps of an episode stay together), seeded, and stratified by
outcome: within each outcome the episodes are grouped by start stage, shuffled, and dealt
alternately to the halves, so both halves get (almost) the same number of successes and of
failures, and each stage is spread over both halves too. An outcome with fewer than two
episodes cannot be in both halves (e.g. rollouts the operator always rescued: no failure);
the split still goes ahead, and a critic that saw no failure learns the time to success.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexpie_learning.critic.configuration_critic import CriticConfig
from dexpie_learning.critic.data import CriticEpisode, check_unique_ids
from dexpie_learning.critic.modeling_critic import DistributionalCritic
from dexpie_learning.critic.training import train_critic


class CrossFitError(ValueError):
    """Episodes that cannot be cross-fitted (too few of an outcome)."""


def split_episodes(episodes: list[CriticEpisode], seed: int = 0
                   ) -> tuple[list[str], list[str]]:
    """-> (ids of half 0, ids of half 1), disjoint, covering all episodes, neither empty;
    each half has at least one episode of every outcome that has two or more."""
    check_unique_ids(episodes)
    if len(episodes) < 2:
        raise CrossFitError(f"cross-fitting needs at least 2 episodes (one per half), got "
                            f"{len(episodes)}")
    rng = np.random.default_rng(seed)
    halves: tuple[list[str], list[str]] = ([], [])
    for outcome in (True, False):
        group = [e for e in episodes if e.success == outcome]
        ordered: list[str] = []
        for stage in sorted({e.stage for e in group}):
            ids = sorted(e.episode_id for e in group if e.stage == stage)
            ordered += [ids[i] for i in rng.permutation(len(ids))]
        # A random first half per outcome, so an odd count does not always favour half 0.
        first = int(rng.integers(2))
        for position, episode_id in enumerate(ordered):
            halves[(first + position) % 2].append(episode_id)
    return halves


@dataclass
class CrossFitResult:
    """values: episode_id -> (T,) V(o_t) from the critic that did not train on it.
    halves: the two id lists; labelled_by: episode_id -> index of the critic that labelled
    it (= the half it is NOT in); critics / losses: per half (critic i trained on
    halves[i])."""
    values: dict[str, np.ndarray]
    halves: tuple[list[str], list[str]]
    labelled_by: dict[str, int]
    critics: tuple[DistributionalCritic, DistributionalCritic]
    losses: tuple[list[float], list[float]]


def cross_fit_values(episodes: list[CriticEpisode], config: CriticConfig, steps: int,
                     batch_size: int = 256, lr: float = 3e-4, seed: int = 0,
                     progress: bool = True, observation_noise: float = 0.0) -> CrossFitResult:
    """Split (seeded, stratified), train one critic per half (seeds `seed` and `seed + 1`),
    label every episode with the other half's critic. observation_noise: train_critic's."""
    halves = split_episodes(episodes, seed)
    by_id = {e.episode_id: e for e in episodes}
    critics, losses = [], []
    for index, half in enumerate(halves):
        critic, half_losses = train_critic([by_id[i] for i in half], config, steps, batch_size,
                                           lr, seed + index, progress,
                                           observation_noise=observation_noise)
        critics.append(critic)
        losses.append(half_losses)
    values, labelled_by = {}, {}
    for index, half in enumerate(halves):
        other = 1 - index
        for episode_id in half:
            values[episode_id] = critics[other].episode_values(by_id[episode_id])
            labelled_by[episode_id] = other
    return CrossFitResult(values=values, halves=halves, labelled_by=labelled_by,
                          critics=(critics[0], critics[1]), losses=(losses[0], losses[1]))
