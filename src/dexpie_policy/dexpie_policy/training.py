"""A minimal training loop for the flow policy (the CLI and experiment harness live in
dexpie_learning)."""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from dexpie_policy.chunk_dataset import (DEFAULT_PADDED_STEP_WEIGHT, ChunkDataset,
                                         make_training_batch)
from dexpie_policy.flow import FlowMatchingPolicy, FlowPolicyConfig
from dexpie_policy.normalization import NormalizationStats


def train_policy(samples: ChunkDataset, config: FlowPolicyConfig, steps: int,
                 batch_size: int = 64, lr: float = 3e-4, seed: int = 0, progress: bool = True,
                 stats: NormalizationStats | None = None,
                 padded_step_weight: float = DEFAULT_PADDED_STEP_WEIGHT,
                 weight_decay: float = 1e-4, grad_clip_norm: float = 1.0,
                 model: FlowMatchingPolicy | None = None
                 ) -> tuple[FlowMatchingPolicy, list[float]]:
    """AdamW on the flow-matching loss; returns (model in eval mode, loss per step).

    stats defaults to `samples.stats` (save that same object with the model). Pass `model`
    to continue training an existing policy (its config must equal `config`). Deterministic
    for a given seed on one machine: the initialisation, the batch indices, the noise, the
    delays and the indicator dropout all come from `seed`. Batches are drawn uniformly from
    the samples of positive `sample_weight` (zero-weight samples would only dilute them);
    the weights then scale each sample's loss.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps}, {batch_size}")
    samples.check_matches(config)
    stats = samples.stats if stats is None else stats
    stats.validate(config.feature_shapes())
    if model is None:
        torch.manual_seed(seed)
        model = FlowMatchingPolicy(config)
    elif model.config != config:
        raise ValueError("model.config differs from config")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    index_rng = np.random.default_rng(seed)
    # Unweighted datasets draw exactly as before (same batches for the same seed).
    candidates = np.flatnonzero(samples.sample_weight > 0)
    if len(candidates) == 0:
        raise ValueError("every sample has weight 0: nothing to train on")
    losses: list[float] = []
    bar = tqdm(range(steps), desc="train policy", disable=not progress, leave=False)
    for _ in bar:
        indices = candidates[index_rng.integers(0, len(candidates),
                                                size=min(batch_size, len(candidates)))]
        batch = make_training_batch(samples, indices, stats, padded_step_weight)
        loss = model.compute_loss(batch, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
        optimizer.step()
        losses.append(loss.item())
        if progress:
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return model.eval(), losses
