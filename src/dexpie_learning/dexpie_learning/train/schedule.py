"""Learning-rate schedule and weight averaging of the policy-training loop (pure torch).

Decaying the learning rate and saving an exponential moving average (EMA) of the weights is
what diffusion-policy training does to make the saved policy depend less on the last batches.
Both are options (PolicyTrainConfig.lr_schedule, ema_decay), off by default: measured side
by side over three training seeds (benchmarks/training_stability.py) the constant-rate last
iterate was both stable and better at the main job's 2000-step budget.
"""
from __future__ import annotations

import copy
import math

import torch

from dexpie_learning.train.config import PolicyTrainConfig


def warmup_steps_of(config: PolicyTrainConfig) -> int:
    """Warm-up length: warmup_steps, but at most a tenth of the run."""
    return min(config.warmup_steps, config.steps // 10)


def learning_rate_at(config: PolicyTrainConfig, step: int) -> float:
    """The learning rate of optimisation step `step` (0-based) of `config.steps`.

    cosine: linear warm-up to learning_rate, then a cosine from learning_rate down to
    min_lr_ratio * learning_rate, reached at the last step.
    """
    base = config.learning_rate
    if config.lr_schedule == "constant":
        return base
    warmup = warmup_steps_of(config)
    if step < warmup:
        return base * (step + 1) / warmup
    span = max(config.steps - 1 - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    floor = base * config.min_lr_ratio
    return floor + (base - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WeightAverage:
    """EMA of a model's parameters (buffers are copied): `model` is the averaged copy.

    decay at step k: min(decay, (1 + k) / (10 + k)), so the first steps are not frozen
    into the average while the weights are still far from trained.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        weight = 1.0 - self.decay_at(step)
        for averaged, current in zip(self.model.parameters(), model.parameters()):
            averaged.lerp_(current.detach(), weight)
        for averaged, current in zip(self.model.buffers(), model.buffers()):
            averaged.copy_(current)
