"""Named intermediate stages: reached once by the operator from a seeded initial state,
then saved and restored exactly (multi-stage DAgger starts episodes from them).

On a robot the human arranges the scene and names the stage; in the twin the simulated
operator drives the seeded initial state until the stage's condition holds.
"""
from __future__ import annotations

from dexpie_sim.operators.base import SimOperator
from dexpie_sim.tasks.base import INIT_STAGE, HandTask, Snapshot


class StageUnreachableError(RuntimeError):
    pass


def stage_index(task: HandTask, stage: str) -> int:
    try:
        return task.spec.stages.index(stage)
    except ValueError:
        raise ValueError(f"task {task.spec.name!r} has no stage {stage!r}; stages: {list(task.spec.stages)}") from None


def reach_stage(task: HandTask, operator: SimOperator, seed: int, stage: str) -> Snapshot:
    """Reset to the seeded initial state and let the operator work until `stage` holds.

    Returns the snapshot at the first tick where the stage's condition holds. The episode
    clock of a restored snapshot starts at 0.
    """
    wanted = stage_index(task, stage)
    task.reset(seed)
    if stage == INIT_STAGE:
        return task.snapshot(INIT_STAGE)
    operator.reset(seed)
    operator.teleop.release()
    for _ in range(task.spec.max_episode_steps):
        task.step(operator.act())
        if stage_index(task, task.stage_reached()) >= wanted:
            return task.snapshot(stage)
    raise StageUnreachableError(
        f"{task.spec.name}: operator did not reach stage {stage!r} from seed {seed} "
        f"in {task.spec.max_episode_steps} steps (furthest: {task.stage_reached()!r})")


class StageLibrary:
    """In-memory cache of stage snapshots keyed by (seed, stage)."""

    def __init__(self, task: HandTask, operator: SimOperator):
        self.task = task
        self.operator = operator
        self._cache: dict[tuple[int, str], Snapshot] = {}

    def get(self, seed: int, stage: str) -> Snapshot:
        key = (int(seed), stage)
        if key not in self._cache:
            self._cache[key] = reach_stage(self.task, self.operator, seed, stage)
        return self._cache[key]

    def reset(self, seed: int, stage: str = INIT_STAGE):
        """Put the task in `stage` for `seed`; returns the observation."""
        if stage == INIT_STAGE:
            return self.task.reset(seed)
        return self.task.restore(self.get(seed, stage))
