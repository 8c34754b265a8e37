"""Run the simulated operator alone on a task (demonstrations; the operator benchmark)."""
from __future__ import annotations

from dataclasses import dataclass

from dexpie_sim.operators.base import SimOperator
from dexpie_sim.stages import StageLibrary
from dexpie_sim.tasks.base import INIT_STAGE


@dataclass
class OperatorEpisodeResult:
    seed: int
    stage: str
    success: bool
    steps: int


def run_operator_episode(library: StageLibrary, operator: SimOperator, seed: int,
                         stage: str = INIT_STAGE, on_tick=None) -> OperatorEpisodeResult:
    """Start from `stage` of `seed` and let the operator act until success or the step limit.

    The operator starts fresh (no memory of how the stage was reached), as a human would.
    `on_tick(observation_before, target, observation_after)` is called every tick (recording).
    """
    task = library.task
    obs = library.reset(seed, stage)
    operator.reset(seed + 7919)
    operator.teleop.release()
    while not task.timed_out:
        target = operator.act()
        next_obs = task.step(target)
        if on_tick is not None:
            on_tick(obs, target, next_obs)
        obs = next_obs
        if task.is_success():
            return OperatorEpisodeResult(seed, stage, True, task.tick)
    return OperatorEpisodeResult(seed, stage, False, task.tick)
