"""Distributional critic: observation -> K logits over the value support [-1, 0].

Shapes: B batch, J state_dim, K object_dim, NB num_bins. Observation batches are dicts of
RAW features: "observation.state" (B, J), "observation.object" (B, K) and
"observation.images.<camera>" (B, C, h, w) float in [0, 1]. The critic owns its
normalisation statistics (computed on its own training half in cross-fitting) and applies
them itself, so a caller can never pair a critic with the wrong statistics.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dexpie_learning.critic.bins import bin_centers, smoothed_one_hot
from dexpie_learning.critic.configuration_critic import CriticConfig
from dexpie_learning.critic.data import CriticEpisode
from dexpie_policy.flow import OBJECT_KEY, STATE_KEY
# The same per-camera CNN as the policy: one image pipeline to maintain and to benchmark.
from dexpie_policy.flow.modeling_flow import ImageEncoder, checked_feature
from dexpie_policy.normalization import NormalizationStats


class DistributionalCritic(nn.Module):
    """Encoder (normalised state + object state + one CNN per camera) -> MLP -> NB logits.

    Training minimises the cross-entropy to the Gaussian-smoothed one-hot of the return
    target; the value is the expectation V = sum_i p_i c_i of the predicted distribution.
    """

    def __init__(self, config: CriticConfig, stats: NormalizationStats):
        super().__init__()
        stats.validate(config.feature_shapes())
        self.config = config
        self.stats = stats
        c = config
        self.image_encoders = nn.ModuleDict(
            {name: ImageEncoder(c.image_channels, c.image_feature_dim) for name in c.camera_names})
        width = c.state_dim + c.object_dim + len(c.camera_names) * c.image_feature_dim
        layers: list[nn.Module] = []
        for _ in range(c.num_layers):
            # LayerNorm keeps the logits' scale stable with 201 outputs and small batches.
            layers += [nn.Linear(width, c.hidden_size), nn.LayerNorm(c.hidden_size), nn.SiLU()]
            width = c.hidden_size
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(width, c.num_bins)
        self.register_buffer("centers", bin_centers(c.num_bins), persistent=False)

    def logits(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Raw observation dict -> (B, NB) logits."""
        c = self.config
        parts = [self.stats.normalize(STATE_KEY, _feature(observation, STATE_KEY,
                                                          (c.state_dim,)))]
        if c.object_dim:
            parts.append(self.stats.normalize(OBJECT_KEY, _feature(observation, OBJECT_KEY,
                                                                   (c.object_dim,))))
        for name, key in zip(c.camera_names, c.image_keys()):
            images = _feature(observation, key, (c.image_channels, *c.image_size))
            parts.append(self.image_encoders[name](images))
        return self.head(self.trunk(torch.cat(parts, dim=-1)))

    def compute_loss(self, observation: dict[str, torch.Tensor],
                     target_values: torch.Tensor) -> torch.Tensor:
        """Cross-entropy between the predicted distribution and the smoothed one-hot of
        target_values (B,) in [-1, 0]; mean over the batch."""
        target = smoothed_one_hot(target_values.to(self.centers.dtype), self.config.num_bins,
                                  self.config.target_sigma_bins)
        return -(target * F.log_softmax(self.logits(observation), dim=-1)).sum(-1).mean()

    def value(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) V = sum_i softmax(logits)_i c_i, in [-1, 0]."""
        return F.softmax(self.logits(observation), dim=-1) @ self.centers

    @torch.inference_mode()
    def episode_values(self, episode: CriticEpisode, batch_size: int = 1024) -> np.ndarray:
        """V(o_t) for every step of one episode: (T,) float64."""
        was_training = self.training
        self.eval()
        values = []
        for start in range(0, episode.num_steps, batch_size):
            batch = episode.observation(slice(start, start + batch_size),
                                        self.config.camera_names)
            values.append(self.value(batch).double().numpy())
        self.train(was_training)
        return np.concatenate(values)


def _feature(observation: dict[str, torch.Tensor], key: str, shape: tuple[int, ...]) -> torch.Tensor:
    return checked_feature(observation, key, shape, container="observation")
