"""Episode bags -> the policy's training arrays (`dexpie_policy.runner.EpisodeArrays`).

The observation a policy sees is chosen here, once, for training and deployment alike:
joint positions (always), the privileged object state (simulation, `use_object_state`), and
images from the named cameras.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from dexpie_common.hand import HandDescription
from dexpie_episode import Episode, EpisodeFormatError, load_episodes
from dexpie_episode.schema import check_hand_matches
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


def resolve_hand(episodes: list[Episode], given: HandDescription | None = None
                 ) -> HandDescription:
    """The one hand description of a training run's episodes.

    Each bag carries one in its metadata (written by the recorder); bags that disagree are an
    error naming both bags and the fields. `given` (`train --hand FILE`) supplies it for bags
    recorded without one, and must agree with those that have one.
    """
    if not episodes:
        raise DatasetError("no readable episodes")
    source = "--hand" if given is not None else None
    hand = given
    for episode in episodes:
        recorded = episode.meta.hand
        if recorded is None:
            continue
        if hand is None:
            hand, source = recorded, str(episode.path)
        elif recorded != hand:
            raise DatasetError(f"{episode.path}: its hand description differs from {source}'s "
                               f"in {recorded.differences(hand)}")
    if hand is None:
        raise DatasetError(f"{episodes[0].path}: recorded without a hand description (metadata "
                           "dexpie.hand), as are all the bags given; supply one with --hand FILE "
                           "(a hand YAML or the graph's parameters file, see "
                           "config/robot_template.yaml)")
    for episode in episodes:
        if episode.meta.hand is None:
            try:
                check_hand_matches(hand, episode.meta)
            except ValueError as error:
                raise DatasetError(f"{episode.path}: {error} (hand description from {source})"
                                   ) from None
    return hand


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
