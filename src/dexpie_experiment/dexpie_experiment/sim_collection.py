"""Record episodes in the simulation twin, in-process, in the episode format.

The same bags the ROS `episode_recorder` writes from live topics are written here directly
from the twin's loop (simulated clock), which is what makes hundreds of episodes affordable
on a CPU. Demonstrations: the simulated operator is in control on every tick, through the
teleop graph's control chain (devices -> arbiter in human-only mode -> hand controller -> hand,
`dexpie_sim.operator_rollout`). Each tick records the arbiter's command (/hand/command, what
the live recorder records by default: the human's command, which the policy learns to
reproduce) and the arbiter's state (source, edge, sticky reason, intervention id), as the live
recorder does with an arbiter in the graph; the hand executed that command after the hand
controller's limits (`RecordedEpisode.clipped_ticks` counts the ticks where they changed it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dexpie_episode import OUTCOME_FAILURE, OUTCOME_SUCCESS, EpisodeMeta, EpisodeWriter
from dexpie_sim.graph_params import hand_description
from dexpie_sim.operator_rollout import run_operator_episode
from dexpie_sim.operators.base import SimOperator
from dexpie_sim.stages import StageLibrary, stage_index
from dexpie_sim.tasks.base import INIT_STAGE


@dataclass
class RecordedEpisode:
    task: str
    stage: str
    seed: int
    success: bool
    steps: int
    human_steps: int
    path: Path
    clipped_ticks: int = 0    # ticks where the hand controller clipped or rate-limited the command


def record_operator_demo(library: StageLibrary, operator: SimOperator, seed: int, out_dir: Path,
                         stage: str = INIT_STAGE, note: str = "operator demonstration") -> RecordedEpisode:
    """One demonstration by the simulated operator (as profiled: `operator.set_profile`) from
    `stage` of `seed`, written as a bag."""
    task = library.task
    spec = task.spec
    meta = EpisodeMeta(task=spec.name, stage=stage, seed=seed, joint_names=spec.joint_names,
                       control_dt=spec.control_dt, object_names=spec.object_names,
                       cameras=task.cameras, note=note, hand=hand_description(spec.name))
    dt_ns = int(round(spec.control_dt * 1e9))
    furthest = [stage_index(task, stage)]
    with EpisodeWriter(out_dir, meta) as writer:
        def on_tick(obs, chain_tick, _next_obs):
            tick = writer.num_ticks
            decision = chain_tick.arbiter
            writer.write_tick(tick * dt_ns, obs.joint_positions, obs.joint_velocities, decision.command,
                              object_state=obs.object_state, source=decision.source,
                              edge=decision.edge, reason=decision.reason,
                              intervention_id=decision.intervention_id, images=obs.images or None,
                              human_idle_time=decision.human_idle_time, detail=decision.detail)
            reached = stage_index(task, task.stage_reached())
            if reached > furthest[0]:
                furthest[0] = reached
                writer.write_stage(tick * dt_ns, spec.stages[reached])

        result = run_operator_episode(library, operator, seed, stage, on_tick=on_tick)
        path = writer.close(OUTCOME_SUCCESS if result.success else OUTCOME_FAILURE)
    return RecordedEpisode(spec.name, stage, seed, result.success, result.steps, result.human_steps, path,
                           result.clipped_ticks)
