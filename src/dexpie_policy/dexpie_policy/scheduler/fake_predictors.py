"""Stand-in chunk predictors for tests and benchmarks (no learning, exact behaviour).

`SmoothExpertPredictor` models a generative policy trained on a smooth expert: every chunk is
the expert trajectory plus a per-chunk random offset (chunk-to-chunk variation of samples).
Given a committed prefix it behaves like a policy trained with real-time chunking: it copies
the prefix and blends from the prefix's end back onto its own sample over `blend_steps`.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import numpy as np


def observation_tick(observation: Any) -> int:
    """Control tick carried by the observation (attribute or mapping key "tick")."""
    tick = observation["tick"] if isinstance(observation, Mapping) else observation.tick
    if tick is None:
        raise ValueError("this fake predictor needs observation.tick")
    return int(tick)


def sinusoid_trajectory(num_joints: int, period_ticks: float = 90.0, amplitude: float = 0.5,
                        seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """Smooth expert q*(t): ticks (n,) -> (n, J), one sinusoid per joint with random phase."""
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 2 * np.pi, num_joints)
    periods = period_ticks * rng.uniform(0.8, 1.25, num_joints)

    def trajectory(ticks: np.ndarray) -> np.ndarray:
        ticks = np.asarray(ticks, dtype=float)[:, None]
        return amplitude * np.sin(2 * np.pi * ticks / periods + phases)

    return trajectory


class SmoothExpertPredictor:
    """Expert trajectory + per-chunk offset; continues a committed prefix when given one.

    predict_chunk(observation, prefix (d, J) or None) -> (horizon, J) for ticks
    t_obs .. t_obs + horizon - 1 (t_obs = observation.tick).
    """

    def __init__(self, trajectory: Callable[[np.ndarray], np.ndarray], horizon: int = 16,
                 offset_std: float = 0.05, blend_steps: int = 8, seed: int = 0):
        self.trajectory = trajectory
        self.horizon = horizon
        self.offset_std = offset_std
        self.blend_steps = blend_steps
        self.rng = np.random.default_rng(seed)
        self.calls: list[tuple[int, Optional[np.ndarray]]] = []  # (t_obs, prefix) per call

    def predict_chunk(self, observation: Any, prefix_targets: Optional[np.ndarray]) -> np.ndarray:
        t_obs = observation_tick(observation)
        self.calls.append((t_obs, None if prefix_targets is None else prefix_targets.copy()))
        expert = self.trajectory(t_obs + np.arange(self.horizon))
        chunk = expert + self.rng.normal(0.0, self.offset_std, expert.shape[1])
        if prefix_targets is None or len(prefix_targets) == 0:
            return chunk
        d = min(len(prefix_targets), self.horizon)
        deviation = prefix_targets[d - 1] - chunk[d - 1]  # (J,) where the prefix ends vs sample
        chunk[:d] = prefix_targets[:d]
        # Raised-cosine blend from the prefix's end onto the sample: no jump, no kink.
        j = np.arange(1, self.horizon - d + 1)
        weight = np.where(j <= self.blend_steps,
                          0.5 * (1 + np.cos(np.pi * j / (self.blend_steps + 1))), 0.0)
        chunk[d:] += weight[:, None] * deviation
        return chunk
