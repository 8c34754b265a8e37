"""Monte-Carlo return targets of the critic (normalised, clipped to the value support).

For an episode of T control steps and the task's step limit L (`max_episode_steps`):

    success:  G_t = -(T - 1 - t)
    failure:  G_t = -(T - 1 - t) - C_fail * L * gamma_f ** (T - 1 - t)
    target_t = clip(G_t / L, -1, 0)

Every step costs -1 (so faster is better); a failure adds a terminal penalty of C_fail * L
that is discounted backwards in time with gamma_f, so steps long before the failure are
blamed less than the ones that led straight into it. Only final, labelled outcomes are
training labels: an aborted or unknown episode says nothing about the policy's value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dexpie_episode.schema import (OUTCOME_ABORTED, OUTCOME_FAILURE, OUTCOME_NAMES,
                                            OUTCOME_SUCCESS, OUTCOME_UNKNOWN)

DEFAULT_FAILURE_PENALTY = 1.0     # C_fail
DEFAULT_FAILURE_DECAY = 0.99      # gamma_f


class OutcomeError(ValueError):
    """An episode whose outcome cannot be a training label (aborted, unknown, invalid)."""


@dataclass(frozen=True)
class ReturnConfig:
    """max_episode_steps: L, the return normaliser (the task's step limit). failure_penalty:
    C_fail >= 0. failure_decay: gamma_f in (0, 1]."""
    max_episode_steps: int
    failure_penalty: float = DEFAULT_FAILURE_PENALTY
    failure_decay: float = DEFAULT_FAILURE_DECAY

    def __post_init__(self):
        if not isinstance(self.max_episode_steps, int) or isinstance(
                self.max_episode_steps, bool) or self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be a positive integer, got "
                             f"{self.max_episode_steps!r}")
        if not _is_number(self.failure_penalty) or self.failure_penalty < 0:
            raise ValueError(f"failure_penalty must be a finite number >= 0, got "
                             f"{self.failure_penalty!r}")
        if not _is_number(self.failure_decay) or not 0.0 < self.failure_decay <= 1.0:
            raise ValueError(f"failure_decay must be in (0, 1], got {self.failure_decay!r}")

    def to_dict(self) -> dict:
        return {"max_episode_steps": self.max_episode_steps,
                "failure_penalty": float(self.failure_penalty),
                "failure_decay": float(self.failure_decay)}


def outcome_is_success(outcome: int | bool) -> bool:
    """OUTCOME_SUCCESS -> True, OUTCOME_FAILURE -> False (a bool passes through); aborted,
    unknown or any other value raises OutcomeError naming it."""
    if isinstance(outcome, (bool, np.bool_)):
        return bool(outcome)
    if outcome == OUTCOME_SUCCESS:
        return True
    if outcome == OUTCOME_FAILURE:
        return False
    if outcome in (OUTCOME_ABORTED, OUTCOME_UNKNOWN):
        raise OutcomeError(f"an episode with outcome {OUTCOME_NAMES[outcome]!r} is not a "
                           "training label for the critic (only success or failure)")
    raise OutcomeError(f"invalid outcome {outcome!r}")


def raw_returns(num_steps: int, outcome: int | bool, config: ReturnConfig) -> np.ndarray:
    """Unnormalised G_t, (T,) float64 (see module docstring)."""
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    success = outcome_is_success(outcome)
    steps_to_go = (num_steps - 1 - np.arange(num_steps)).astype(np.float64)   # T-1-t
    returns = -steps_to_go
    if not success:
        returns = returns - (config.failure_penalty * config.max_episode_steps
                             * config.failure_decay ** steps_to_go)
    return returns


def return_targets(num_steps: int, outcome: int | bool, config: ReturnConfig) -> np.ndarray:
    """The critic's targets clip(G_t / L, -1, 0): (T,) float64 in [-1, 0]."""
    return np.clip(raw_returns(num_steps, outcome, config) / config.max_episode_steps, -1.0, 0.0)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
