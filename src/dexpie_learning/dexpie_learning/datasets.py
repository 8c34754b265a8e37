"""Episode bags -> the policy's training arrays (`dexpie_policy.runner.EpisodeArrays`).

The observation a policy sees is chosen here, once, for training and deployment alike:
joint positions (always), the privileged object state (simulation, `use_object_state`), and
images from the named cameras.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from dexpie_episode import Episode, EpisodeFormatError, load_episodes
from dexpie_policy.runner import EpisodeArrays

log = logging.getLogger(__name__)


class DatasetError(ValueError):
    pass


def load_episode_folders(folders: list[Path], progress: bool | None = None
                         ) -> tuple[list[Episode], list[EpisodeFormatError]]:
    """All readable episodes of several folders; unreadable bags are reported and skipped."""
    episodes, errors = [], []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise DatasetError(f"episode folder {folder} does not exist")
        found, bad = load_episodes(folder, progress=progress)
        episodes += found
        errors += bad
    for error in errors:
        log.warning("skipping %s", error)
    return episodes, errors


def check_consistent(episodes: list[Episode]) -> None:
    """All episodes must share the task's joint and object feature lists (one policy)."""
    if not episodes:
        raise DatasetError("no readable episodes")
    first = episodes[0]
    for episode in episodes[1:]:
        if episode.joint_names != first.joint_names:
            raise DatasetError(f"{episode.path}: joint names differ from {first.path}")
        if episode.object_names != first.object_names:
            raise DatasetError(f"{episode.path}: object features differ from {first.path}")


def to_episode_arrays(episode: Episode, use_object_state: bool = True, cameras: tuple[str, ...] = (),
                      optimality: np.ndarray | None = None) -> EpisodeArrays:
    """One episode's aligned arrays for training; `optimality` (T,) when labelled."""
    object_state = None
    if use_object_state:
        if episode.object_state is None:
            raise DatasetError(f"{episode.path}: has no object state (recorded on a robot?); "
                               "train with use_object_state=False")
        object_state = episode.object_state
    images = {}
    for camera in cameras:
        if camera not in episode.images:
            raise DatasetError(f"{episode.path}: has no images from camera {camera!r} "
                               f"(recorded: {sorted(episode.images)})")
        images[camera] = episode.images[camera]
    return EpisodeArrays(joint_positions=episode.joint_positions, command=episode.command,
                         object_state=object_state, images=images, optimality=optimality)
