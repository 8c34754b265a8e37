"""Run the simulated operator alone on a task (demonstrations; the operator benchmark).

Every tick goes through the control chain of the teleop graph (`twin_chain.twin_control_chain`
with `human_only=True`): the operator's devices -> the intervention arbiter in human-only mode
(the episode starts under the human's control through the clutch, with the no-jump blend) ->
the hand controller's safety core (joint limits, rate limit, NaN rejection, watchdog) -> the
hand. So demonstrations and the operator's success rate are measured with the limits the robot
applies.
"""
from __future__ import annotations

from dataclasses import dataclass

from dexpie_control.chain import ControlChain
from dexpie_sim.operator_session import EPISODE_SEED_OFFSET
from dexpie_sim.operators.base import SimOperator
from dexpie_sim.stages import StageLibrary
from dexpie_sim.tasks.base import INIT_STAGE
from dexpie_sim.twin_chain import twin_control_chain
from dexpie_teleop.arbiter import SOURCE_HUMAN


@dataclass
class OperatorEpisodeResult:
    seed: int
    stage: str
    success: bool
    steps: int
    human_steps: int = 0          # ticks the human commanded the hand (the arbiter's source)
    clipped_ticks: int = 0        # the hand controller clipped or rate-limited the operator's command
    rate_limited_ticks: int = 0   # of those, ticks where the rate limit acted
    safety_hold_ticks: int = 0    # the arbiter or the hand controller held the hand


def operator_chain(operator: SimOperator) -> ControlChain:
    """The demonstration chain for `operator`'s task: no policy, the arbiter in human-only mode
    owning the operator's teleop pipeline (so the operator steers from the arm target the
    arbiter integrates), the twin's hand controller."""
    return twin_control_chain(operator.task.spec.name, operator.teleop, human_only=True)


def run_operator_episode(library: StageLibrary, operator: SimOperator, seed: int,
                         stage: str = INIT_STAGE, on_tick=None,
                         chain: ControlChain | None = None) -> OperatorEpisodeResult:
    """Start from `stage` of `seed` and let the operator act until success or the step limit.

    The operator starts fresh (no memory of how the stage was reached), as a human would. It
    rests its hands on the devices until the arbiter hands it control (the first tick), then
    steers. `on_tick(observation_before, chain_tick, observation_after)` is called every tick
    (recording: `chain_tick.command` is the arbiter's /hand/command, `chain_tick.target` what
    the hand executed). chain: `operator_chain(operator)` unless given.
    """
    task = library.task
    chain = operator_chain(operator) if chain is None else chain
    dt = task.spec.control_dt
    obs = library.reset(seed, stage)
    operator.reset(seed + EPISODE_SEED_OFFSET)
    operator.teleop.release()
    chain.start_episode(obs.joint_positions, now=0.0)
    human_steps = 0
    while not task.timed_out:
        scene = operator.observe_delayed()
        steering = chain.arbiter.source == SOURCE_HUMAN   # the arbiter engaged the clutch
        reading = operator.devices(scene) if steering else operator.resting_devices()
        tick = chain.step(task.tick * dt, obs.joint_positions, reading=reading)
        human_steps += tick.arbiter.source == SOURCE_HUMAN
        next_obs = task.step(tick.target)
        if on_tick is not None:
            on_tick(obs, tick, next_obs)
        obs = next_obs
        if task.is_success():
            break
    counts = chain.counts
    return OperatorEpisodeResult(seed, stage, bool(task.is_success()), task.tick, human_steps,
                                 counts.clipped_ticks, counts.rate_limited_ticks, counts.hold_ticks)
