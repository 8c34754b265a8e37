"""Training loop of the distributional critic: per-step samples, cross-entropy, AdamW."""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from dexpie_learning.critic.configuration_critic import CriticConfig
from dexpie_learning.critic.data import CriticEpisode, check_unique_ids
from dexpie_learning.critic.modeling_critic import DistributionalCritic
from dexpie_policy.chunk_dataset import image_tensor
from dexpie_policy.flow import IMAGE_KEY_PREFIX, OBJECT_KEY, STATE_KEY
from dexpie_policy.normalization import MIN_STD, NormalizationStats


class CriticSamples:
    """Every step of a list of episodes as flat arrays (N = sum of T): state (N, J),
    object_state (N, K) or None, images camera -> (N, h, w, C) uint8, target (N,)."""

    def __init__(self, episodes: list[CriticEpisode], config: CriticConfig):
        if not episodes:
            raise ValueError("no episodes to train the critic on")
        check_unique_ids(episodes)
        for episode in episodes:
            _check_matches(episode, config)
        self.state = np.concatenate([e.joint_positions for e in episodes]).astype(np.float32)
        self.object_state = None
        if config.object_dim:
            self.object_state = np.concatenate([e.object_state for e in episodes]).astype(
                np.float32)
        self.images = {camera: np.concatenate([e.images[camera] for e in episodes])
                       for camera in config.camera_names}
        self.target = np.concatenate([e.return_target for e in episodes]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.target)

    def stats(self) -> NormalizationStats:
        data = {STATE_KEY: self.state}
        if self.object_state is not None:
            data[OBJECT_KEY] = self.object_state
        return NormalizationStats.from_data(data)

    def batch(self, indices: np.ndarray) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(raw observation dict, targets (B,))."""
        observation = {STATE_KEY: torch.from_numpy(self.state[indices])}
        if self.object_state is not None:
            observation[OBJECT_KEY] = torch.from_numpy(self.object_state[indices])
        for camera, frames in self.images.items():
            observation[IMAGE_KEY_PREFIX + camera] = image_tensor(frames[indices])
        return observation, torch.from_numpy(self.target[indices])


def train_critic(episodes: list[CriticEpisode], config: CriticConfig, steps: int,
                 batch_size: int = 256, lr: float = 3e-4, seed: int = 0, progress: bool = True,
                 weight_decay: float = 1e-4, grad_clip_norm: float = 1.0,
                 observation_noise: float = 0.0
                 ) -> tuple[DistributionalCritic, list[float]]:
    """AdamW on the critic's cross-entropy over uniformly drawn steps of `episodes`.

    observation_noise: std of the Gaussian noise added to every sampled joint and object
    feature, in units of that feature's std over these episodes (0: none; constant features
    get none). A critic fit on a few dozen episodes otherwise memorises them: it ranks its
    own episodes perfectly and held-out ones near chance (benchmarks/critic_generalization.py).

    Returns (critic in eval mode, loss per optimisation step). The normalisation statistics
    are computed on these episodes' steps and stored in the critic. Deterministic for a seed
    on one machine (initialisation, batch indices and noise come from `seed`).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps}, {batch_size}")
    if not 0 < lr < 1:
        raise ValueError(f"lr must be in (0, 1), got {lr}")
    if not 0 <= observation_noise < float("inf"):
        raise ValueError(f"observation_noise must be a finite number >= 0, got "
                         f"{observation_noise!r}")
    samples = CriticSamples(episodes, config)
    torch.manual_seed(seed)
    stats = samples.stats()
    critic = DistributionalCritic(config, stats)
    critic.train()
    optimizer = torch.optim.AdamW(critic.parameters(), lr=lr, weight_decay=weight_decay)
    index_rng = np.random.default_rng(seed)
    noise_scale = feature_noise_scales(stats, observation_noise)
    noise_rng = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    bar = tqdm(range(steps), desc="train critic", disable=not progress, leave=False)
    for _ in bar:
        indices = index_rng.integers(0, len(samples), size=min(batch_size, len(samples)))
        observation, target = samples.batch(indices)
        for key, scale in noise_scale.items():
            feature = observation[key]
            observation[key] = feature + scale * torch.randn(feature.shape,
                                                             generator=noise_rng)
        loss = critic.compute_loss(observation, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(critic.parameters(), grad_clip_norm)
        optimizer.step()
        losses.append(loss.item())
        if progress:
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return critic.eval(), losses


def feature_noise_scales(stats: NormalizationStats, observation_noise: float
                         ) -> dict[str, torch.Tensor]:
    """key -> (F,) raw-unit std of the training noise: observation_noise x each feature's
    std, 0 for (numerically) constant features; {} when observation_noise is 0."""
    if observation_noise == 0:
        return {}
    scales = {}
    for key in (STATE_KEY, OBJECT_KEY):
        if key in stats.features:
            feature = stats.features[key]
            varying = feature.std >= MIN_STD
            scales[key] = torch.as_tensor(np.where(varying, observation_noise * feature.std, 0.0),
                                          dtype=torch.float32)
    return scales


def _check_matches(episode: CriticEpisode, config: CriticConfig) -> None:
    """The episode must provide exactly the features the config encodes; errors name it."""
    name = episode.episode_id
    if episode.joint_positions.shape[1] != config.state_dim:
        raise ValueError(f"{name}: {episode.joint_positions.shape[1]} joints, the critic "
                         f"config has state_dim={config.state_dim}")
    if config.object_dim:
        if episode.object_state is None or episode.object_state.shape[1] != config.object_dim:
            got = None if episode.object_state is None else episode.object_state.shape[1]
            raise ValueError(f"{name}: object state has {got} features, the critic config "
                             f"has object_dim={config.object_dim}")
    for camera in config.camera_names:
        frames = episode.images.get(camera)
        expected = (*config.image_size, config.image_channels)
        if frames is None or frames.shape[1:] != expected:
            got = None if frames is None else frames.shape[1:]
            raise ValueError(f"{name}: camera {camera!r} frames {got}, the critic config "
                             f"expects (h, w, C) = {expected}")
