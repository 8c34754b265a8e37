"""Training samples for the chunked policy, built from aligned per-episode arrays.

One sample per episode step t: observation at t, anchor = joint_positions[t], target chunk =
command[t : t + H] in the trained representation relative to the anchor. Near the episode
end the chunk is padded by repeating the last command (the robot holds its final target),
and `action_is_pad` marks those steps. Choice: padded steps keep a small loss weight
(`DEFAULT_PADDED_STEP_WEIGHT` = 0.1) instead of 0, so the model still learns to come to rest
at the end of a task without the repeated hold dominating the last H samples of every
episode. Normalisation statistics of the action use real (non-padded) steps only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from dexpie_policy.actions import ActionSpec, to_relative
from dexpie_policy.flow import (ACTION_KEY, ACTION_WEIGHT_KEY, IMAGE_KEY_PREFIX, OBJECT_KEY,
                                OPTIMALITY_KEY, STATE_KEY, FlowPolicyConfig)
from dexpie_policy.normalization import NormalizationStats

DEFAULT_PADDED_STEP_WEIGHT = 0.1


def image_tensor(images: np.ndarray) -> torch.Tensor:
    """Camera frames (..., h, w, C) uint8 (as drivers and the twin give them) ->
    (..., C, h, w) float32 in [0, 1] (as the model takes them)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (..., h, w, C), got {images.dtype}")
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(images, -1, -3))).float() / 255.0


@dataclass(frozen=True)
class EpisodeArrays:
    """One episode, aligned per control step (T steps).

    joint_positions (T, J) and command (T, J) absolute joint targets, in ActionSpec joint
    order; object_state (T, K) or None; images camera -> (T, h, w, C) uint8 or empty;
    optimality (T,) indicator s_t in [0, 1] (NaN = unknown) or None (all unknown);
    sample_weight (T,) >= 0, finite: multiplies the loss of the sample at each step (the
    baselines' selection and weighting: 0 removes a sample, 2 counts it twice); None = all 1.
    """
    joint_positions: np.ndarray
    command: np.ndarray
    object_state: np.ndarray | None = None
    images: dict[str, np.ndarray] = field(default_factory=dict)
    optimality: np.ndarray | None = None
    sample_weight: np.ndarray | None = None

    def __post_init__(self):
        steps = len(self.joint_positions)
        if self.joint_positions.ndim != 2 or steps < 1:
            raise ValueError(f"joint_positions must be (T >= 1, J), got "
                             f"{self.joint_positions.shape}")
        if self.command.shape != self.joint_positions.shape:
            raise ValueError(f"command must have the shape of joint_positions "
                             f"{self.joint_positions.shape}, got {self.command.shape}")
        if self.object_state is not None and (self.object_state.ndim != 2
                                              or len(self.object_state) != steps):
            raise ValueError(f"object_state must be ({steps}, K), got {self.object_state.shape}")
        for name, frames in self.images.items():
            if frames.ndim != 4 or len(frames) != steps or frames.dtype != np.uint8:
                raise ValueError(f"images[{name!r}] must be uint8 ({steps}, h, w, C), got "
                                 f"{frames.dtype} {frames.shape}")
        if self.optimality is not None:
            s = np.asarray(self.optimality, dtype=np.float64)
            if s.shape != (steps,) or np.any((s < 0) | (s > 1)):
                raise ValueError(f"optimality must be ({steps},) in [0, 1] or NaN")
        if self.sample_weight is not None:
            w = np.asarray(self.sample_weight, dtype=np.float64)
            if w.shape != (steps,) or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError(f"sample_weight must be ({steps},), finite and >= 0")


class ChunkDataset:
    """All samples of a list of episodes, precomputed as arrays (N samples):

    state (N, J), object_state (N, K) or None, images camera -> (N, h, w, C) uint8,
    actions (N, H, D) in the representation (not normalised), action_is_pad (N, H) bool,
    optimality (N,) float (NaN = unknown), sample_weight (N,) float >= 0 (1 = plain).
    """

    def __init__(self, episodes: list[EpisodeArrays], spec: ActionSpec, horizon: int):
        if not episodes:
            raise ValueError("ChunkDataset needs at least one episode")
        self.spec, self.horizon = spec, horizon
        cameras = sorted(episodes[0].images)
        has_object = episodes[0].object_state is not None
        states, objects, actions, pads, optimality, weights = [], [], [], [], [], []
        images = {name: [] for name in cameras}
        for number, episode in enumerate(episodes):
            if episode.joint_positions.shape[1] != spec.num_joints:
                raise ValueError(f"episode {number}: {episode.joint_positions.shape[1]} joints, "
                                 f"the action spec has {spec.num_joints}")
            if sorted(episode.images) != cameras or (episode.object_state is None) == has_object:
                raise ValueError(f"episode {number}: cameras {sorted(episode.images)} / object "
                                 f"state differ from episode 0 ({cameras})")
            steps = len(episode.joint_positions)
            # index[t, k] = min(t + k, T - 1): pad by repeating the last command.
            index = np.minimum(np.arange(steps)[:, None] + np.arange(horizon)[None], steps - 1)
            chunks = episode.command[index]                                    # (T, H, J)
            actions.append(to_relative(chunks, episode.joint_positions, spec))
            pads.append(np.arange(steps)[:, None] + np.arange(horizon)[None] >= steps)
            states.append(episode.joint_positions)
            if has_object:
                objects.append(episode.object_state)
            for name in cameras:
                images[name].append(episode.images[name])
            optimality.append(np.full(steps, np.nan) if episode.optimality is None
                              else np.asarray(episode.optimality, dtype=np.float64))
            weights.append(np.ones(steps) if episode.sample_weight is None
                           else np.asarray(episode.sample_weight, dtype=np.float64))
        self.state = np.concatenate(states).astype(np.float64)
        self.object_state = np.concatenate(objects).astype(np.float64) if has_object else None
        self.images = {name: np.concatenate(frames) for name, frames in images.items()}
        self.actions = np.concatenate(actions)
        self.action_is_pad = np.concatenate(pads)
        self.optimality = np.concatenate(optimality)
        self.sample_weight = np.concatenate(weights)

    def __len__(self) -> int:
        return len(self.state)

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.images))

    @cached_property
    def stats(self) -> NormalizationStats:
        """Statistics in the trained representation; actions over non-padded steps only."""
        data = {STATE_KEY: self.state, ACTION_KEY: self.actions[~self.action_is_pad]}
        if self.object_state is not None:
            data[OBJECT_KEY] = self.object_state
        return NormalizationStats.from_data(data)

    def dimensions(self) -> dict:
        """The config fields this dataset determines."""
        dims = dict(action_dim=self.spec.action_dim, state_dim=self.spec.num_joints,
                    object_dim=0 if self.object_state is None else self.object_state.shape[1],
                    horizon=self.horizon, camera_names=self.camera_names)
        if self.images:
            frames = self.images[self.camera_names[0]]
            dims.update(image_size=tuple(frames.shape[1:3]), image_channels=frames.shape[3])
        return dims

    def policy_config(self, **overrides) -> FlowPolicyConfig:
        """A FlowPolicyConfig with this dataset's dimensions, cameras and image size."""
        return FlowPolicyConfig(**{**self.dimensions(), **overrides})

    def check_matches(self, config: FlowPolicyConfig) -> None:
        """Raise naming the first field in which the dataset and the config disagree."""
        for name, value in self.dimensions().items():
            if getattr(config, name) != value:
                raise ValueError(f"dataset has {name}={value!r}, the policy config "
                                 f"{getattr(config, name)!r}")


def make_training_batch(dataset: ChunkDataset, indices: np.ndarray, stats: NormalizationStats,
                        padded_step_weight: float = DEFAULT_PADDED_STEP_WEIGHT
                        ) -> dict[str, torch.Tensor]:
    """Samples `indices` (B,) -> the model's batch dict: normalised float32 state/object/
    action (B, H, D), images (B, C, h, w) in [0, 1], action_weight (B, H), optimality (B,).

    The per-sample weight is folded into action_weight (B, H) = padding weight x sample
    weight: the flow loss is the action_weight-weighted mean over the batch, so a sample of
    weight 0 has no influence and a sample's gradient scales with its weight."""
    indices = np.asarray(indices)
    as_tensor = lambda array: torch.as_tensor(array, dtype=torch.float32)  # noqa: E731
    batch = {STATE_KEY: as_tensor(stats.normalize(STATE_KEY, dataset.state[indices])),
             ACTION_KEY: as_tensor(stats.normalize(ACTION_KEY, dataset.actions[indices])),
             ACTION_WEIGHT_KEY: as_tensor(np.where(dataset.action_is_pad[indices],
                                                   padded_step_weight, 1.0)
                                          * dataset.sample_weight[indices][:, None]),
             OPTIMALITY_KEY: as_tensor(dataset.optimality[indices])}
    if dataset.object_state is not None:
        batch[OBJECT_KEY] = as_tensor(stats.normalize(OBJECT_KEY, dataset.object_state[indices]))
    for name, frames in dataset.images.items():
        batch[IMAGE_KEY_PREFIX + name] = image_tensor(frames[indices])
    return batch
