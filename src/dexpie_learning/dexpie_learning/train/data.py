"""The training data of one run: demonstration and rollout bags, and what they cost a human.

Human effort is counted in human-operated control steps: every tick of a demonstration plus
every intervention tick (source = human) of a rollout. It is what a real deployment pays for
and every training.json reports it, so methods can be compared at equal effort.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dexpie_common.hand import HandDescription
from dexpie_learning.datasets import (DatasetError, check_consistent, load_episode_folders,
                                     resolve_hand)
from dexpie_episode import Episode, EpisodeFormatError
from dexpie_episode.schema import OUTCOME_ABORTED, OUTCOME_FAILURE

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Episodes in load order (demos first), whether each is a demonstration, the bags that
    could not be read, and the folders they came from."""
    episodes: list[Episode]
    is_demo: list[bool]
    skipped: list[EpisodeFormatError] = field(default_factory=list)
    demo_folders: list[Path] = field(default_factory=list)
    rollout_folders: list[Path] = field(default_factory=list)
    hand: HandDescription | None = None   # the episodes' hand description (resolve_hand)

    @property
    def task(self) -> str:
        tasks = sorted({e.task for e in self.episodes})
        if len(tasks) != 1:
            raise DatasetError(f"one policy per task: the folders hold episodes of {tasks}")
        return tasks[0]

    @property
    def episode_ids(self) -> list[str]:
        return [e.episode_id for e in self.episodes]

    def effort(self) -> dict:
        return human_effort(self.episodes, self.is_demo)

    def summary(self) -> dict:
        return dict(demo_folders=[str(f) for f in self.demo_folders],
                    rollout_folders=[str(f) for f in self.rollout_folders],
                    demo_episodes=sum(self.is_demo),
                    rollout_episodes=len(self.is_demo) - sum(self.is_demo),
                    successful_episodes=sum(e.success for e in self.episodes),
                    skipped_bags=[str(e) for e in self.skipped], human_effort=self.effort())


def load_training_data(demo_folders: list[Path] = (), rollout_folders: list[Path] = (),
                       progress: bool | None = None, hand: HandDescription | None = None
                       ) -> TrainingData:
    """Every readable bag of the folders; unreadable bags are reported (log + `skipped`)
    and skipped. Raises DatasetError when nothing is readable or the episodes disagree (in
    task, features or hand description). `hand` supplies the hand description for bags
    recorded without one (`train --hand FILE`)."""
    demo_folders, rollout_folders = list(demo_folders), list(rollout_folders)
    if not demo_folders and not rollout_folders:
        raise DatasetError("no data: give --demos and/or --rollouts folders")
    demos, demo_errors = load_episode_folders(demo_folders, progress=progress)
    rollouts, rollout_errors = load_episode_folders(rollout_folders, progress=progress)
    data = TrainingData(demos + rollouts, [True] * len(demos) + [False] * len(rollouts),
                        demo_errors + rollout_errors, demo_folders, rollout_folders)
    if not data.episodes:
        raise DatasetError(no_readable_episodes(demo_folders + rollout_folders, data.skipped))
    check_consistent(data.episodes)
    data.task  # noqa: B018 (raises on mixed tasks)
    data.hand = resolve_hand(data.episodes, hand)
    return data


def keeps_demonstration(outcome: int, selection: str) -> bool:
    """Whether a demonstration with this outcome code is trained on under `selection`
    (PolicyTrainConfig.demonstrations): "all" keeps every one; "successful" drops those
    recorded as failed or aborted and keeps those of unknown outcome (a robot's recordings
    may carry no outcome: nothing says they failed)."""
    if selection == "all":
        return True
    if selection == "successful":
        return outcome not in (OUTCOME_FAILURE, OUTCOME_ABORTED)
    raise ValueError(f"demonstrations must be 'all' or 'successful', got {selection!r}")


def select_demonstrations(data: TrainingData, selection: str) -> tuple[TrainingData, int]:
    """The data with the demonstrations `selection` drops removed (rollouts all kept), and
    how many were dropped. What they cost a human is still counted by the caller."""
    keep = [i for i, (e, demo) in enumerate(zip(data.episodes, data.is_demo))
            if not demo or keeps_demonstration(e.outcome, selection)]
    if len(keep) == len(data.episodes):
        return data, 0
    subset = TrainingData([data.episodes[i] for i in keep], [data.is_demo[i] for i in keep],
                          data.skipped, data.demo_folders, data.rollout_folders, data.hand)
    return subset, len(data.episodes) - len(keep)


def object_state_wanted(use_object_state: bool, data: TrainingData) -> bool:
    """`use_object_state` asks for the object state the hand declares. A hand that declares
    none (hand.object_names empty: a robot without privileged state), with bags that hold none,
    trains on proprioception (+ images) without being told; bags that lack the object state
    their hand declares stay an error (to_episode_arrays)."""
    if (use_object_state and data.hand is not None and not data.hand.object_names
            and all(e.object_state is None for e in data.episodes)):
        log.info("hand %r declares no object state: training on joint positions%s", data.hand.name,
                 " and images" if data.hand.cameras else "")
        return False
    return use_object_state


def no_readable_episodes(folders: list[Path], skipped: list[EpisodeFormatError]) -> str:
    """Why there is nothing to train on: the folders, and the bags that could not be read."""
    where = ", ".join(str(f) for f in folders)
    if not skipped:
        return f"no readable episodes in {where}: the folders hold no episode bags"
    shown = "; ".join(str(e) for e in skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
    return f"no readable episodes in {where}: {len(skipped)} bag(s) could not be read: {shown}"


def human_effort(episodes: list[Episode], is_demo: list[bool]) -> dict:
    """Human-operated control steps: demo_steps (all ticks of demonstrations),
    intervention_steps (human ticks of rollouts), human_steps (their sum), robot_steps (policy or safety
    hold) and total_steps."""
    demo_steps = sum(e.num_ticks for e, demo in zip(episodes, is_demo) if demo)
    intervention_steps = sum(int(np.count_nonzero(e.intervention))
                             for e, demo in zip(episodes, is_demo) if not demo)
    total = sum(e.num_ticks for e in episodes)
    return dict(demo_steps=demo_steps, intervention_steps=intervention_steps,
                human_steps=demo_steps + intervention_steps,
                robot_steps=total - demo_steps - intervention_steps, total_steps=total)
