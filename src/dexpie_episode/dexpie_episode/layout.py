"""Where episodes live on disk, and how an unfinished one is told apart from a finished one.

Layout under an episode folder `root`:

    <root>/<episode_id>/                      finished bag (metadata.yaml + <episode_id>.mcap)
    <root>/<episode_id>.partial/<episode_id>/ bag being written (staging directory)
    <root>/<episode_id>.partial/writer.lock   flock held by the live writer process
    <root>/<episode_id>.incomplete/...        a staging directory set aside: the writer raised,
                                              or a crashed writer's leftover was recovered

Crash safety rests on one atomic operation: the finished bag directory is renamed from
the staging directory to `<root>/<episode_id>/` only after the bag is closed and synced.
A finished name therefore always holds a closed bag, whatever happens to the process.

A `.partial` whose lock is not held belongs to a dead writer. `mark_incomplete` moves it to
`.incomplete`. It does not try to salvage the ticks: a partial episode has no outcome
label, and every learner in this project needs the outcome, so the data would not be
usable as an episode anyway; the files are kept for inspection.
"""

from __future__ import annotations

import enum
import fcntl
import logging
import os
import re
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from .schema import IncompleteEpisodeError

LOG = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
INCOMPLETE_SUFFIX = ".incomplete"
LOCK_FILE_NAME = "writer.lock"


class EpisodeDirState(enum.Enum):
    FINISHED = "finished"
    BEING_WRITTEN = "being_written"  # .partial with a live writer holding the lock
    ABANDONED = "abandoned"  # .partial whose writer died
    INCOMPLETE = "incomplete"  # .incomplete, set aside
    # .partial left behind by a writer that died after publishing its bag but before
    # removing the staging directory: holds no data, safe to delete.
    PUBLISHED_LEFTOVER = "published_leftover"
    NOT_AN_EPISODE = "not_an_episode"


def new_episode_id(task: str, stage: str) -> str:
    """Sortable by time, readable, unique: 20260124T101500Z_relocate_init_3f2a9c1d."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    task = re.sub(r"[^A-Za-z0-9\-]+", "-", task)
    stage = re.sub(r"[^A-Za-z0-9\-]+", "-", stage)
    return f"{stamp}_{task}_{stage}_{uuid.uuid4().hex[:8]}"


def staging_dir(root: Path, episode_id: str) -> Path:
    return root / f"{episode_id}{PARTIAL_SUFFIX}"


def staged_bag_dir(root: Path, episode_id: str) -> Path:
    return staging_dir(root, episode_id) / episode_id


def finished_bag_dir(root: Path, episode_id: str) -> Path:
    return root / episode_id


def incomplete_dir(root: Path, episode_id: str) -> Path:
    return root / f"{episode_id}{INCOMPLETE_SUFFIX}"


def acquire_writer_lock(staging: Path) -> int:
    """Hold an exclusive flock for as long as the writer lives; the kernel drops it on death."""
    fd = os.open(staging / LOCK_FILE_NAME, os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def release_writer_lock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _writer_is_alive(staging: Path) -> bool:
    lock_path = staging / LOCK_FILE_NAME
    if not lock_path.exists():
        return False
    fd = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def episode_dir_state(path: Path) -> EpisodeDirState:
    if path.name.endswith(PARTIAL_SUFFIX):
        if _writer_is_alive(path):
            return EpisodeDirState.BEING_WRITTEN
        episode_id = path.name[: -len(PARTIAL_SUFFIX)]
        published = (finished_bag_dir(path.parent, episode_id) / "metadata.yaml").is_file()
        if published and not (path / episode_id).exists():
            return EpisodeDirState.PUBLISHED_LEFTOVER
        return EpisodeDirState.ABANDONED
    if path.name.endswith(INCOMPLETE_SUFFIX):
        return EpisodeDirState.INCOMPLETE
    if (path / "metadata.yaml").is_file():
        return EpisodeDirState.FINISHED
    return EpisodeDirState.NOT_AN_EPISODE


def incomplete_error(path: Path) -> IncompleteEpisodeError | None:
    """The error to report for an unfinished episode directory, or None if it is not one."""
    state = episode_dir_state(path)
    if state is EpisodeDirState.BEING_WRITTEN:
        return IncompleteEpisodeError(path, "incomplete episode: still being written")
    if state is EpisodeDirState.ABANDONED:
        return IncompleteEpisodeError(
            path, "incomplete episode: its writer died before closing it (see mark_incomplete)"
        )
    if state is EpisodeDirState.INCOMPLETE:
        return IncompleteEpisodeError(path, "incomplete episode: set aside as unfinished")
    return None


def fsync_tree(directory: Path) -> None:
    """Flush a closed bag's files and directory entries to disk before it is published."""
    for entry in directory.iterdir():
        if entry.is_file():
            fd = os.open(entry, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_staged_bag(root: Path, episode_id: str, durable: bool) -> Path:
    """Move a closed bag from its staging directory to its finished name, atomically."""
    bag_dir = staged_bag_dir(root, episode_id)
    finished = finished_bag_dir(root, episode_id)
    if durable:
        fsync_tree(bag_dir)
    # The one atomic step that turns a staged bag into a finished episode.
    os.rename(bag_dir, finished)
    if durable:
        fsync_dir(root)
    return finished


def mark_incomplete(partial_path: Path | str) -> Path:
    """Move an abandoned `<id>.partial` staging directory to `<id>.incomplete`.

    Refuses a directory whose writer is still alive (it holds the lock). Returns the new path.
    """
    partial_path = Path(partial_path)
    if not partial_path.name.endswith(PARTIAL_SUFFIX):
        raise ValueError(f"{partial_path} is not a {PARTIAL_SUFFIX} staging directory")
    if _writer_is_alive(partial_path):
        raise RuntimeError(f"{partial_path} is still being written by a live process")
    episode_id = partial_path.name[: -len(PARTIAL_SUFFIX)]
    target = incomplete_dir(partial_path.parent, episode_id)
    if target.exists():
        raise FileExistsError(f"cannot set {partial_path} aside: {target} exists")
    os.rename(partial_path, target)
    LOG.warning("episode %s was not finished; moved to %s", episode_id, target)
    return target


def recover_partial_episodes(root: Path | str) -> list[Path]:
    """Set aside every abandoned `.partial` under `root` as `.incomplete`; return the new paths.

    Live writers are left alone; empty leftovers of published episodes are deleted.
    """
    root = Path(root)
    moved = []
    for path in sorted(root.glob(f"*{PARTIAL_SUFFIX}")):
        if not path.is_dir():
            continue
        state = episode_dir_state(path)
        if state is EpisodeDirState.ABANDONED:
            moved.append(mark_incomplete(path))
        elif state is EpisodeDirState.PUBLISHED_LEFTOVER:
            shutil.rmtree(path)
    return moved
