"""What the critic trains on and labels: one `CriticEpisode` per recorded episode.

The critic sees the same observation as the policy (joint positions, the privileged object
state in simulation, images from named cameras) and carries the episode's return targets
(`returns.return_targets`), its outcome, start stage and per-step intervention flags, which
the cross-fitting split, the diagnostics and the indicator need.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from dexpie_learning.critic.returns import ReturnConfig, outcome_is_success, return_targets
from dexpie_policy.chunk_dataset import image_tensor
from dexpie_policy.flow import IMAGE_KEY_PREFIX, OBJECT_KEY, STATE_KEY


@dataclass(frozen=True)
class CriticEpisode:
    """One episode of T steps.

    joint_positions (T, J); object_state (T, K) or None; images camera -> (T, h, w, C) uint8;
    return_target (T,) in [-1, 0]; intervention (T,) bool (human commanded that tick);
    success: the outcome; stage: the stage the episode started from.
    """
    episode_id: str
    stage: str
    success: bool
    joint_positions: np.ndarray
    return_target: np.ndarray
    intervention: np.ndarray
    object_state: np.ndarray | None = None
    images: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        steps = len(self.joint_positions)
        if self.joint_positions.ndim != 2 or steps < 1:
            raise ValueError(f"{self.episode_id}: joint_positions must be (T >= 1, J), got "
                             f"{self.joint_positions.shape}")
        target = np.asarray(self.return_target)
        if target.shape != (steps,) or not np.all(np.isfinite(target)) or np.any(
                (target < -1) | (target > 0)):
            raise ValueError(f"{self.episode_id}: return_target must be ({steps},) in [-1, 0], "
                             f"got shape {target.shape}")
        if np.asarray(self.intervention).shape != (steps,):
            raise ValueError(f"{self.episode_id}: intervention must be ({steps},) bool, got "
                             f"{np.asarray(self.intervention).shape}")
        if self.object_state is not None and (self.object_state.ndim != 2
                                              or len(self.object_state) != steps):
            raise ValueError(f"{self.episode_id}: object_state must be ({steps}, K), got "
                             f"{self.object_state.shape}")
        for name, frames in self.images.items():
            if frames.ndim != 4 or len(frames) != steps or frames.dtype != np.uint8:
                raise ValueError(f"{self.episode_id}: images[{name!r}] must be uint8 "
                                 f"({steps}, h, w, C), got {frames.dtype} {frames.shape}")

    @property
    def num_steps(self) -> int:
        return len(self.joint_positions)

    def observation(self, indices: np.ndarray | slice = slice(None),
                    cameras: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
        """Raw (not normalised) observation batch of the given steps: "observation.state"
        (B, J), "observation.object" (B, K) if present, "observation.images.<camera>"
        (B, C, h, w) float in [0, 1] for the requested cameras."""
        batch = {STATE_KEY: torch.as_tensor(self.joint_positions[indices], dtype=torch.float32)}
        if self.object_state is not None:
            batch[OBJECT_KEY] = torch.as_tensor(self.object_state[indices], dtype=torch.float32)
        for camera in cameras:
            if camera not in self.images:
                raise KeyError(f"{self.episode_id}: no images from camera {camera!r} "
                               f"(have {sorted(self.images)})")
            batch[IMAGE_KEY_PREFIX + camera] = image_tensor(self.images[camera][indices])
        return batch


def critic_episode(episode, returns: ReturnConfig, use_object_state: bool = True,
                   cameras: tuple[str, ...] = ()) -> CriticEpisode:
    """A recorded `dexpie_episode.Episode` -> CriticEpisode (targets from its
    outcome; an aborted or unknown outcome raises `returns.OutcomeError`)."""
    success = outcome_is_success(episode.outcome)
    object_state = None
    if use_object_state:
        if episode.object_state is None:
            raise ValueError(f"{episode.path}: has no object state (recorded on a robot?); "
                             "use use_object_state=False")
        object_state = np.asarray(episode.object_state, dtype=np.float64)
    images = {}
    for camera in cameras:
        if camera not in episode.images:
            raise ValueError(f"{episode.path}: has no images from camera {camera!r} "
                             f"(recorded: {sorted(episode.images)})")
        images[camera] = episode.images[camera]
    steps = len(episode.joint_positions)
    return CriticEpisode(episode_id=episode.episode_id, stage=episode.stage, success=success,
                         joint_positions=np.asarray(episode.joint_positions, dtype=np.float64),
                         return_target=return_targets(steps, success, returns),
                         intervention=np.asarray(episode.intervention, dtype=bool),
                         object_state=object_state, images=images)


def check_unique_ids(episodes: list[CriticEpisode]) -> None:
    seen: set[str] = set()
    for episode in episodes:
        if episode.episode_id in seen:
            raise ValueError(f"episode id {episode.episode_id!r} appears twice")
        seen.add(episode.episode_id)
