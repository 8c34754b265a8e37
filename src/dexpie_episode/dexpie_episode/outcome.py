"""Set or correct the outcome of recorded episodes after the fact (pure: no ROS).

The outcome is often known only once the episode is over, or is judged later (a video
review). `set_episode_outcome` changes the label in force in the bag's metadata, keeps the
recorded one next to it and says when and why (metadata.KEY_OUTCOME_RECORDED /
KEY_OUTCOME_CORRECTION); the recorded messages are never rewritten.
"""
from __future__ import annotations

import datetime
from pathlib import Path

from .metadata import set_outcome_metadata
from .reader import read_episode
from .schema import FINAL_OUTCOMES, OUTCOME_NAMES, Episode, EpisodeFormatError

OUTCOME_BY_NAME = {OUTCOME_NAMES[o]: o for o in FINAL_OUTCOMES}


def outcome_from_name(name: str) -> int:
    if name not in OUTCOME_BY_NAME:
        raise ValueError(f"outcome must be one of {list(OUTCOME_BY_NAME)}, got {name!r}")
    return OUTCOME_BY_NAME[name]


def set_episode_outcome(path: Path | str, outcome: int, reason: str = "") -> Episode:
    """Label the finished episode bag at `path` with `outcome`; returns the episode as read
    back. Raises EpisodeFormatError when the bag is not a readable episode (before or after)."""
    path = Path(path)
    if outcome not in FINAL_OUTCOMES:
        raise ValueError(f"outcome must be one of {[OUTCOME_NAMES[o] for o in FINAL_OUTCOMES]}")
    before = read_episode(path)
    if before.outcome == outcome:
        return before
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    note = (f"{OUTCOME_NAMES[before.outcome]} -> {OUTCOME_NAMES[outcome]} at {when}"
            + (f": {reason}" if reason else ""))
    set_outcome_metadata(path, outcome, note)
    after = read_episode(path)
    if after.outcome != outcome:  # pragma: no cover - a bug in set_outcome_metadata
        raise EpisodeFormatError(path, f"outcome reads back as {after.outcome}, not {outcome}")
    return after
