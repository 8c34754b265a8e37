"""load_episodes: read every episode bag in a folder, collecting the ones that fail.

A folder of hundreds of episodes should not be lost to one bad bag: each failure becomes an
EpisodeFormatError in the returned list (and a log warning), and the rest still load.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from .layout import EpisodeDirState, episode_dir_state
from .reader import read_episode
from .schema import Episode, EpisodeFormatError

LOG = logging.getLogger(__name__)

# Below this many bags a progress bar is more noise than help.
PROGRESS_BAR_MIN_BAGS = 20


def episode_dirs(folder: Path | str) -> list[Path]:
    """Every directory in `folder` that is (or was meant to be) an episode, sorted by name.

    Hidden entries and plain files are skipped; an episode folder holds only episodes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"episode folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_episodes(
    folder: Path | str, *, progress: bool | None = None
) -> tuple[list[Episode], list[EpisodeFormatError]]:
    """Read all episodes in `folder`. Returns (episodes, errors).

    Episodes come in a reproducible order, by (seed, start stage, directory name): directory
    names carry the wall-clock second and a random suffix, so several episodes recorded in one
    second would otherwise come in a different order on every run, and so would the batches of
    a seeded training run. (On a robot, seed -1: by name, i.e. by recording time.)

    Unfinished episodes (`.partial`, `.incomplete`) are reported as IncompleteEpisodeError.
    progress: show a tqdm bar; default: only when there are many bags.
    """
    paths = [
        path
        for path in episode_dirs(folder)
        # An empty staging leftover next to its published episode is not a second episode.
        if episode_dir_state(path) is not EpisodeDirState.PUBLISHED_LEFTOVER
    ]
    show_bar = len(paths) >= PROGRESS_BAR_MIN_BAGS if progress is None else progress
    episodes: list[Episode] = []
    errors: list[EpisodeFormatError] = []
    for path in tqdm(paths, desc="episodes", unit="bag", disable=not show_bar):
        try:
            episodes.append(read_episode(path))
        except EpisodeFormatError as error:
            LOG.warning("skipping episode: %s", error)
            errors.append(error)
    episodes.sort(key=lambda e: (e.meta.seed, e.meta.stage, e.path.name))
    if errors:
        LOG.warning(
            "%d of %d episode bags in %s could not be loaded", len(errors), len(paths), folder
        )
    return episodes, errors
