"""Adapter from the policy runner's keyword API to the scheduler's `ChunkPredictor` protocol.

`dexpie_policy.runner.PolicyRunner.predict_chunk(joint_positions, object_state=None,
images=None, prefix_targets=None, optimality=..., cfg_scale=...)` takes the observation's
parts as arguments; the scheduler hands over one opaque observation. Duck-typed (no import
of the runner) so that the scheduler stays free of torch.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from dexpie_policy.scheduler.types import joint_positions_of


class RunnerPredictor:
    """ChunkPredictor over a runner-like object.

    The observation's `extras` (an `Observation`) or keys (a mapping) "object_state" and
    "images" are passed on when present; `runner_kwargs` (e.g. optimality, cfg_scale) are
    passed on every call. Returns (H, J) absolute targets.
    """

    def __init__(self, runner: Any, **runner_kwargs: Any):
        self.runner = runner
        self.runner_kwargs = runner_kwargs

    def predict_chunk(self, observation: Any, prefix_targets: Optional[np.ndarray]) -> np.ndarray:
        extras = observation if isinstance(observation, dict) else \
            getattr(observation, "extras", None) or {}
        return self.runner.predict_chunk(joint_positions_of(observation),
                                         object_state=extras.get("object_state"),
                                         images=extras.get("images"),
                                         prefix_targets=prefix_targets, **self.runner_kwargs)
