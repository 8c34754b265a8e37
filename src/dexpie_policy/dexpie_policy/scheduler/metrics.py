"""Measures of an executed target sequence: holds (stalls) and jumps at chunk boundaries."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def hold_runs(hold_flags: Sequence[bool]) -> list[int]:
    """Lengths (ticks) of the maximal runs of consecutive holds, in order."""
    runs, current = [], 0
    for hold in hold_flags:
        if hold:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    if current:
        runs.append(current)
    return runs


def boundary_and_within_steps(targets: np.ndarray, chunk_ids: Sequence[Optional[int]]
                              ) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean step sizes |target[t] - target[t-1]| split by where they happen.

    targets: (T, J) executed targets; chunk_ids: (T,) chunk id executed at each tick, None
    where the scheduler held. A boundary step is the first executed row of a chunk after
    another chunk (holds in between included: the held target is the last executed one);
    a within-chunk step is between two consecutive rows of the same chunk. Start-up
    (before the first chunk) counts as neither.
    Returns (boundary_steps, within_steps), 1-D arrays.
    """
    targets = np.asarray(targets, dtype=float)
    steps = np.linalg.norm(np.diff(targets, axis=0), axis=1)  # steps[t-1] ends at tick t
    boundary, within = [], []
    previous_chunk = None  # last chunk executed before tick t
    for t in range(1, len(chunk_ids)):
        if chunk_ids[t - 1] is not None:
            previous_chunk = chunk_ids[t - 1]
        current = chunk_ids[t]
        if current is None or previous_chunk is None:
            continue
        if current == chunk_ids[t - 1]:
            within.append(steps[t - 1])
        elif current != previous_chunk:
            boundary.append(steps[t - 1])
    return np.asarray(boundary), np.asarray(within)


def boundary_jump_ratio(targets: np.ndarray, chunk_ids: Sequence[Optional[int]]) -> float:
    """Largest step at a chunk boundary divided by the median within-chunk step.

    About 1 for a trajectory as smooth across boundaries as inside chunks; NaN when there is
    no boundary or no within-chunk step.
    """
    boundary, within = boundary_and_within_steps(targets, chunk_ids)
    if boundary.size == 0 or within.size == 0:
        return float("nan")
    median = float(np.median(within))
    return float(boundary.max() / median) if median > 0 else float("inf")
