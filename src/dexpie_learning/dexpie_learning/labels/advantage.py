"""Chunk-window advantage of each step, from the critic's per-step values of one episode.

The policy acts in chunks of H actions, so the advantage is measured over the window the
chunk starting at t covers, n = min(H, T - t) steps (shorter at the episode end):

    A_t = -(n - 1) / L + V(o_{t+n-1}) - V(o_t)

-(n - 1)/L is the normalised return collected over the window (every step costs -1/L);
V(o_{t+n-1}) - V(o_t) is how much the window moved the expected outcome. At the last step
n = 1 and A_{T-1} = 0: nothing is executed after it.
"""
from __future__ import annotations

import numpy as np


def window_lengths(num_steps: int, horizon: int) -> np.ndarray:
    """(T,) int n_t = min(H, T - t)."""
    if num_steps < 1 or horizon < 1:
        raise ValueError(f"num_steps and horizon must be positive, got {num_steps}, {horizon}")
    return np.minimum(horizon, num_steps - np.arange(num_steps))


def chunk_advantages(values: np.ndarray, horizon: int, max_episode_steps: int) -> np.ndarray:
    """values (T,) V(o_t) of one episode -> (T,) float64 A_t."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) < 1 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be a finite (T >= 1,) array, got shape {values.shape}")
    if max_episode_steps < 1:
        raise ValueError(f"max_episode_steps must be positive, got {max_episode_steps}")
    n = window_lengths(len(values), horizon)
    last = np.arange(len(values)) + n - 1
    return -(n - 1) / max_episode_steps + values[last] - values
