"""Per-step labels of a whole dataset: critic values -> advantages -> indicators.

`label_dataset` is the one place where the pieces are put together: it computes every
episode's chunk-window advantages, fits the quantiles/beta over ALL of them (the training
set), and applies both indicators. The result is what `store.save_labels` writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dexpie_learning.critic.returns import ReturnConfig
from dexpie_learning.labels.advantage import chunk_advantages
from dexpie_learning.labels.indicator import (IndicatorParams, binary_indicator,
                                              continuous_indicator, fit_indicator, human_windows)

ARRAY_NAMES = ("values", "advantages", "optimality", "binary_indicator", "human_window")

# Whose whole-human chunk windows get s = b = 1 regardless of the critic:
#   all         every episode's (the paper: a human command is what the human wanted)
#   successful  only episodes that ended in success: a demo or correction that failed is
#               scored by the critic like the policy's ticks (operators who fail, e.g. the
#               twin's mixed population, otherwise teach their failures at s = 1)
#   none        no episode's: the critic scores every tick
HUMAN_OVERRIDES = ("all", "successful", "none")
DEFAULT_HUMAN_OVERRIDE = "all"


@dataclass(frozen=True)
class EpisodeLabels:
    """One episode, all (T,): values V(o_t) (held-out critic), advantages A_t, optimality
    s_t in [0, 1] (continuous indicator), binary_indicator b_t in {0, 1}, human_window
    (bool): the whole chunk window was human (s_t and b_t forced to 1 there when the
    labelling's human_override rule covers the episode)."""
    values: np.ndarray
    advantages: np.ndarray
    optimality: np.ndarray
    binary_indicator: np.ndarray
    human_window: np.ndarray

    def __post_init__(self):
        steps = len(self.values)
        for name in ARRAY_NAMES:
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.shape != (steps,) or steps < 1:
                raise ValueError(f"{name} must be a ({steps},) array, got "
                                 f"{getattr(array, 'shape', type(array).__name__)}")
            if name != "human_window" and not np.all(np.isfinite(array)):
                raise ValueError(f"{name} has non-finite values")
        if np.any((self.optimality < 0) | (self.optimality > 1)):
            raise ValueError("optimality must be in [0, 1]")
        if not np.all(np.isin(self.binary_indicator, (0.0, 1.0))):
            raise ValueError("binary_indicator must be 0 or 1")
        if self.human_window.dtype != bool:
            raise ValueError(f"human_window must be bool, got {self.human_window.dtype}")

    @property
    def num_steps(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class DatasetLabels:
    """Labels of every episode (episode_id -> EpisodeLabels) and how they were made:
    horizon H, returns (L, C_fail, gamma_f), the indicator quantiles/beta, and the critic
    checkpoint directories that produced the values (free-form strings)."""
    episodes: dict[str, EpisodeLabels]
    horizon: int
    returns: ReturnConfig
    indicator: IndicatorParams
    critic_checkpoints: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @property
    def episode_ids(self) -> list[str]:
        return sorted(self.episodes)

    def optimality_of(self, episode_id: str) -> np.ndarray:
        """(T,) continuous indicator of one episode (KeyError naming it when absent)."""
        if episode_id not in self.episodes:
            raise KeyError(f"no labels for episode {episode_id!r}")
        return self.episodes[episode_id].optimality


def human_override_applies(rule: str, success: bool | None) -> bool:
    """Whether an episode's whole-human windows are forced to 1 under `rule`."""
    if rule not in HUMAN_OVERRIDES:
        raise ValueError(f"human_override must be one of {HUMAN_OVERRIDES}, got {rule!r}")
    if rule == "successful" and success is None:
        raise ValueError("human_override 'successful' needs each episode's outcome")
    return rule == "all" or (rule == "successful" and bool(success))


def label_dataset(values: dict[str, np.ndarray], interventions: dict[str, np.ndarray],
                  horizon: int, returns: ReturnConfig,
                  critic_checkpoints: tuple[str, ...] | list[str] = (),
                  extra: dict | None = None, human_override: str = DEFAULT_HUMAN_OVERRIDE,
                  successes: dict[str, bool] | None = None) -> DatasetLabels:
    """values: episode_id -> (T,) held-out V(o_t); interventions: episode_id -> (T,) bool.
    The two must have the same ids and lengths. human_override: one of HUMAN_OVERRIDES;
    successes (episode_id -> bool, the outcome) is needed for "successful". Returns the
    labels of every episode; the rule is recorded in extra["human_override"]."""
    human_override_applies(human_override, True)   # names a bad rule before any work
    if human_override == "successful":
        missing = sorted(set(values) - set(successes or {}))
        if missing:
            raise ValueError(f"human_override 'successful': no outcome for episodes "
                             f"{missing[:5]}")
    if set(values) != set(interventions):
        raise ValueError(f"values and interventions name different episodes: only in values "
                         f"{sorted(set(values) - set(interventions))[:5]}, only in "
                         f"interventions {sorted(set(interventions) - set(values))[:5]}")
    if not values:
        raise ValueError("no episodes to label")
    ids = sorted(values)
    advantages = {i: chunk_advantages(values[i], horizon, returns.max_episode_steps) for i in ids}
    params = fit_indicator([advantages[i] for i in ids])
    episodes = {}
    for i in ids:
        intervention = np.asarray(interventions[i], dtype=bool)
        if intervention.shape != advantages[i].shape:
            raise ValueError(f"{i}: intervention has shape {intervention.shape}, values "
                             f"{advantages[i].shape}")
        override = human_override_applies(human_override, (successes or {}).get(i))
        episodes[i] = EpisodeLabels(
            values=np.asarray(values[i], dtype=np.float64), advantages=advantages[i],
            optimality=continuous_indicator(advantages[i], intervention, horizon, params,
                                            override),
            binary_indicator=binary_indicator(advantages[i], intervention, horizon, params,
                                              override),
            human_window=human_windows(intervention, horizon))
    return DatasetLabels(episodes=episodes, horizon=horizon, returns=returns, indicator=params,
                         critic_checkpoints=tuple(str(c) for c in critic_checkpoints),
                         extra=dict(extra or {}, human_override=human_override))
