"""Optimality indicators from advantages: the continuous DexPIE score and the binary
RECAP-style baseline.

Continuous:  s_t = sigmoid((A_t - q_0.6) / beta),  beta = (q_0.8 - q_0.6) / 5
so the 60 % quantile maps to 0.5 and the 80 % quantile to sigmoid(5) = 0.993: the top 20 %
is "optimal", the bottom half is mostly ~0, and the band in between is graded.
Binary (baseline): b_t = 1 where A_t >= q_0.6 (the top 40 % by advantage), else 0.
Both are forced to 1 where every step of the chunk window t..t+n-1 (n = min(H, T - t)) was
commanded by the human: an intervention is by construction what the human wanted the robot
to do. A window that is only partly human is NOT forced (the policy's part may be the bad
part that caused the takeover).

Which episodes' human windows are forced is the labelling's `human_override` rule (see
labelling.HUMAN_OVERRIDES): the paper forces every one ("all"); with operators who sometimes
fail ("successful", "none") a human window of a failed episode is scored by the critic like
any other tick. The functions here take the per-episode decision as `override`.

The quantiles are taken over every step of every episode of the training set (human-forced
steps included: they are part of the data distribution the policy is conditioned on), with
numpy's default linear interpolation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dexpie_learning.labels.advantage import window_lengths

LOW_QUANTILE = 0.6
HIGH_QUANTILE = 0.8
BETA_DIVISOR = 5.0
# beta when q_0.8 == q_0.6 (e.g. many identical advantages): the sigmoid becomes a step at
# q_0.6, i.e. the continuous indicator degenerates to the binary one instead of dividing by 0.
# 1e-6 is far below one value bin (0.005), so it does not blur real differences.
MIN_BETA = 1e-6


@dataclass(frozen=True)
class IndicatorParams:
    """q_low = q_0.6, q_high = q_0.8 of A over the training set; beta (> 0);
    beta_guarded: True when q_high - q_low was too small and beta = MIN_BETA was used."""
    q_low: float
    q_high: float
    beta: float
    beta_guarded: bool

    def __post_init__(self):
        for name in ("q_low", "q_high", "beta"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.q_high < self.q_low:
            raise ValueError(f"q_high ({self.q_high}) must be >= q_low ({self.q_low})")
        if not self.beta > 0:
            raise ValueError(f"beta must be > 0, got {self.beta!r}")

    def to_dict(self) -> dict:
        return {"q_low": self.q_low, "q_high": self.q_high, "beta": self.beta,
                "beta_guarded": self.beta_guarded, "low_quantile": LOW_QUANTILE,
                "high_quantile": HIGH_QUANTILE}


def fit_indicator(advantages: list[np.ndarray]) -> IndicatorParams:
    """Quantiles and beta from the advantages (T_i,) of all training episodes (pooled)."""
    if not advantages:
        raise ValueError("no advantages to compute quantiles from")
    pooled = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in advantages])
    if pooled.size == 0 or not np.all(np.isfinite(pooled)):
        raise ValueError("advantages must be non-empty and finite")
    q_low, q_high = (float(q) for q in np.quantile(pooled, [LOW_QUANTILE, HIGH_QUANTILE]))
    beta = (q_high - q_low) / BETA_DIVISOR
    guarded = not beta >= MIN_BETA
    return IndicatorParams(q_low=q_low, q_high=q_high, beta=MIN_BETA if guarded else beta,
                           beta_guarded=guarded)


def human_windows(intervention: np.ndarray, horizon: int) -> np.ndarray:
    """(T,) bool: every step of t..t+n-1 (n = min(H, T - t)) is a human intervention."""
    intervention = np.asarray(intervention, dtype=bool)
    if intervention.ndim != 1:
        raise ValueError(f"intervention must be (T,), got shape {intervention.shape}")
    n = window_lengths(len(intervention), horizon)
    # Count human steps in each window with a prefix sum: O(T) instead of O(T * H).
    counts = np.concatenate([[0], np.cumsum(intervention)])
    starts = np.arange(len(intervention))
    return counts[starts + n] - counts[starts] == n


def continuous_indicator(advantages: np.ndarray, intervention: np.ndarray, horizon: int,
                         params: IndicatorParams, override: bool = True) -> np.ndarray:
    """(T,) s_t in [0, 1] (float64) for one episode; override: force its whole-human windows
    to 1 (False: every tick keeps the critic's score)."""
    advantages = _check(advantages, intervention)
    z = (advantages - params.q_low) / params.beta
    # Written with exp of a non-positive number only: no overflow for a tiny (guarded) beta.
    score = np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))),
                     np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))
    if not override:
        return score
    return np.where(human_windows(intervention, horizon), 1.0, score)


def binary_indicator(advantages: np.ndarray, intervention: np.ndarray, horizon: int,
                     params: IndicatorParams, override: bool = True) -> np.ndarray:
    """(T,) {0.0, 1.0}: 1 where A_t >= q_0.6 or (override) the window is fully human."""
    advantages = _check(advantages, intervention)
    forced = human_windows(intervention, horizon) if override else np.zeros(len(advantages),
                                                                             dtype=bool)
    return ((advantages >= params.q_low) | forced).astype(np.float64)


def _check(advantages: np.ndarray, intervention: np.ndarray) -> np.ndarray:
    advantages = np.asarray(advantages, dtype=np.float64)
    if advantages.ndim != 1 or np.asarray(intervention).shape != advantages.shape:
        raise ValueError(f"advantages (T,) and intervention (T,) must match, got "
                         f"{advantages.shape} and {np.asarray(intervention).shape}")
    return advantages
