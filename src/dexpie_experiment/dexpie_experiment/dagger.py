"""Multi-stage DAgger rollouts in the twin: the policy drives, the simulated operator watches
and intervenes through the devices, every episode is recorded as a bag.

Per control tick (simulated clock, as in `evaluation.py`):

1. the policy's chunk scheduler proposes a target (async chunks, latency in ticks);
2. the operator perceives the scene with its reaction delay. Watching, it rests its hands on
   the devices and presses a button when `wants_takeover(scene)` says a failure starts; in
   control, it steers through glove + spacemouse and presses again when its hand-back rule
   (`SimOperator.wants_handback`, generic over tasks: the stage is recovered) fires;
3. the `InterventionArbiter` (the same core as the ROS node) decides who commands the hand,
   with the clutch and the no-jump blend at both edges;
4. the hand controller's safety core (joint limits, rate limit, NaN rejection, watchdog)
   turns the arbiter's command into the target the task executes;
5. the tick is recorded (the arbiter's command, /hand/command, as the live recorder records
   it by default: what the policy or the human asked for, before the hand controller's
   limits; the policy's proposal; source / edge / reason / intervention id), arrived chunks
   and reached stages too; the task steps with the hand controller's target.

Steps 1, 3 and 4 are one `dexpie_control.chain.ControlChain` (configured for the twin by
`dexpie_sim.twin_chain`), the composition every in-process loop runs. After a hand-back the
chain resets the scheduler, so the policy resumes from the current state.
Episodes start from the initial state or, with probability `stage_mix`, from one of the
task's intermediate stages (`StageLibrary`), recorded in the episode's metadata.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from dexpie_control.chain import ControlChain
from dexpie_experiment.dagger_report import RolloutSummary, intervention_lengths
from dexpie_experiment.evaluation import check_conditioning, check_policy_fits_task
from dexpie_episode import (OUTCOME_FAILURE, OUTCOME_SUCCESS, SOURCE_HUMAN,
                                     EpisodeMeta, EpisodeWriter)
from dexpie_policy.actions import to_relative
from dexpie_policy.runner import PolicyRunner
from dexpie_policy.scheduler import (MODES, ChunkRecord, ChunkScheduler, Observation,
                                     RunnerPredictor)
from dexpie_sim.graph_params import hand_description
from dexpie_sim.operator_session import DeviceButton
from dexpie_sim.operators.base import OperatorConfig, SimOperator
from dexpie_sim.operators.population import POPULATIONS, member_for_episode
from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.stages import StageLibrary, StageUnreachableError, stage_index
from dexpie_sim.tasks.base import INIT_STAGE, HandTask
from dexpie_sim.twin_chain import twin_control_chain
from dexpie_teleop.arbiter import (EDGE_HANDBACK, EDGE_NONE, EDGE_TAKEOVER, REASON_NAMES,
                                   SOURCE_POLICY, SOURCE_SAFETY_HOLD, ArbiterConfig)
from dexpie_teleop.teleop import DeviceReading


@dataclass(frozen=True)
class DaggerConfig:
    """How rollouts are collected.

    stage_mix: probability that an episode starts from an intermediate stage (else "init").
    mode: the policy's execution, "async" (the paper's) or "sync" / "naive_async" (ablations).
    press_ticks: how long a simulated button press lasts (a level; the arbiter sees its edge).
    min_press_interval_ticks: a human does not press twice faster than this; must exceed the
        arbiter's debounce time, or a real second press would be taken for bounce.
    operator_population: who intervenes (dexpie_sim/operators/population.py): "expert" (the
        scripted operator), a tier ("better", "okay", "worse") or "mixed"; episode seed s is
        operated by `member_for_episode(population, s)`.
    """
    stage_mix: float = 0.5
    latency_ticks: int = 2
    mode: str = "async"
    request_threshold: int = 4
    max_prefix_steps: int = 4
    optimality: float | None = None
    cfg_scale: float = 1.5
    press_ticks: int = 3
    min_press_interval_ticks: int = 8
    arbiter: ArbiterConfig = ArbiterConfig()
    operator_population: str = "expert"

    def __post_init__(self):
        if not 0.0 <= self.stage_mix <= 1.0:
            raise ValueError(f"stage_mix must be in [0, 1], got {self.stage_mix}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("latency_ticks", "request_threshold", "max_prefix_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.press_ticks < 1:
            raise ValueError(f"press_ticks must be >= 1, got {self.press_ticks}")
        if self.operator_population not in POPULATIONS:
            raise ValueError(f"operator_population must be one of {sorted(POPULATIONS)}, got "
                             f"{self.operator_population!r}")
        if self.min_press_interval_ticks <= self.press_ticks:
            raise ValueError(f"min_press_interval_ticks {self.min_press_interval_ticks} must exceed "
                             f"press_ticks {self.press_ticks}")
        check_conditioning(self.optimality, self.cfg_scale)

    def check_debounce(self, control_dt: float) -> None:
        if self.min_press_interval_ticks * control_dt <= self.arbiter.button_debounce_time:
            raise ValueError(f"min_press_interval_ticks {self.min_press_interval_ticks} at {control_dt:.4f} s "
                             f"is within the arbiter's button_debounce_time {self.arbiter.button_debounce_time}")


def choose_start_stage(stages: Sequence[str], seed: int, stage_mix: float) -> str:
    """"init" or (with probability stage_mix) one of the intermediate stages, from the seed."""
    rng = np.random.default_rng([int(seed), 0xDA66E])
    if len(stages) < 2 or rng.random() >= stage_mix:
        return INIT_STAGE
    return str(stages[1 + rng.integers(len(stages) - 1)])


@dataclass
class ChunkEncoder:
    """Writes arrived chunks in the policy's trained representation (absolute when unknown)."""
    runner: PolicyRunner | None
    optimality: float | None
    cfg_scale: float

    def write(self, writer: EpisodeWriter, record: ChunkRecord, dt_ns: int) -> None:
        spec = None if self.runner is None else self.runner.spec
        if spec is None:
            actions, names, reps = record.targets, ("joints",), ("absolute_joint",)
            group_joints = tuple(f"joints/{j}" for j in writer.meta.joint_names)
        else:
            actions = to_relative(record.targets, record.anchor, spec)
            names = tuple(g.name for g in spec.groups)
            reps = tuple(g.representation for g in spec.groups)
            group_joints = tuple(f"{g.name}/{j}" for g in spec.groups for j in g.joints)
        writer.write_chunk(record.arrival_tick * dt_ns, record.chunk_id, record.observation_tick * dt_ns,
                           record.anchor, actions, record.targets, group_names=names,
                           group_representations=reps, group_joint_names=group_joints,
                           delay_steps=record.delay_steps, start_index=record.start_index,
                           inference_latency=record.inference_latency,
                           optimality=math.nan if self.optimality is None else self.optimality,
                           cfg_scale=self.cfg_scale)


@dataclass
class DaggerSetup:
    """Everything one worker needs to run episodes of one task. chain: the policy's scheduler,
    the arbiter (owning the operator's teleop pipeline) and the hand controller."""
    task: HandTask
    library: StageLibrary
    operator: SimOperator
    chain: ControlChain
    chunks: ChunkEncoder
    config: DaggerConfig = field(default_factory=DaggerConfig)


def make_dagger_setup(policy: Any, task_name: str, config: DaggerConfig = DaggerConfig(),
                      operator_config: OperatorConfig | None = None,
                      cameras: Sequence[str] | None = None, operator_seed: int = 1) -> DaggerSetup:
    """policy: a `PolicyRunner`, or any `ChunkPredictor` (predict_chunk(observation, prefix)).
    A runner that does not fit the task is refused (ValueError); an inference failure during
    a rollout raises `InferenceError` (the simulated-clock scheduler's default)."""
    runner = policy if isinstance(policy, PolicyRunner) else None
    if runner is not None:
        kwargs = {"cfg_scale": config.cfg_scale}
        if config.optimality is not None:
            kwargs["optimality"] = config.optimality
        predictor = RunnerPredictor(runner, **kwargs)
        cameras = tuple(runner.config.camera_names) if cameras is None else tuple(cameras)
    else:
        predictor, cameras = policy, tuple(cameras or ())
    task = make_task(task_name, cameras=cameras)
    if runner is not None:
        check_policy_fits_task(runner, task)  # before any episode, naming what differs
    config.check_debounce(task.spec.control_dt)
    # Stages are reached by an operator of their own, so the intervening one keeps its state.
    library = StageLibrary(task, make_operator(task_name, task, seed=0))
    operator = make_operator(task_name, task, seed=operator_seed, config=operator_config)
    scheduler = ChunkScheduler.simulated(predictor, latency_ticks=config.latency_ticks,
                                         mode=config.mode,
                                         request_threshold=config.request_threshold,
                                         max_prefix_steps=config.max_prefix_steps)
    chain = twin_control_chain(task_name, operator.teleop, scheduler=scheduler, arbiter_config=config.arbiter)
    return DaggerSetup(task, library, operator, chain,
                       ChunkEncoder(runner, config.optimality, config.cfg_scale), config)


def run_dagger_episode(setup: DaggerSetup, seed: int, stage: str, out_dir: Path) -> RolloutSummary:
    """One rollout with interventions from `stage` of `seed`, written as an episode bag."""
    task, operator, chain = setup.task, setup.operator, setup.chain
    spec = task.spec
    dt, dt_ns = spec.control_dt, int(round(spec.control_dt * 1e9))
    torch.manual_seed(seed)  # the flow's noise: episodes are reproducible
    obs = setup.library.reset(seed, stage)
    member = member_for_episode(setup.config.operator_population, seed)
    operator.set_profile(member)
    operator.reset(seed + 7919)
    operator.teleop.release()
    chain.start_episode(obs.joint_positions, now=0.0)
    button = DeviceButton(setup.config.press_ticks, setup.config.min_press_interval_ticks)
    meta = EpisodeMeta(task=spec.name, stage=stage, seed=seed, joint_names=spec.joint_names,
                       control_dt=dt, object_names=spec.object_names, cameras=task.cameras,
                       note=f"dagger rollout from stage {stage}, operator {member.tier} "
                            f"#{member.identity}", hand=hand_description(spec.name))
    furthest = stage_index(task, stage)
    sources, commands, transitions, takeovers, handbacks = [], [], [], [], []
    with EpisodeWriter(out_dir, meta) as writer:
        while not task.timed_out:
            tick = task.tick
            observation = Observation(obs.joint_positions, stamp=tick, tick=tick,
                                      extras={"object_state": obs.object_state, "images": obs.images or None})
            scene = operator.observe_delayed()
            if operator.intervening:
                reading = operator.devices(scene)
                if operator.wants_handback(scene):
                    button.request()
            else:
                reading = operator.resting_devices()
                if chain.arbiter.source == SOURCE_POLICY and operator.wants_takeover(scene):
                    button.request()
            reading = DeviceReading(reading.glove, reading.spacemouse_axes, button.level())
            # scheduler -> arbiter -> hand controller (the chain resets the scheduler when
            # control goes back to the policy)
            step = chain.step(tick * dt, obs.joint_positions, observation=observation, reading=reading)
            proposal, out = step.proposal, step.arbiter
            if proposal.arrived is not None:
                setup.chunks.write(writer, proposal.arrived, dt_ns)
            if out.edge == EDGE_TAKEOVER:
                operator.reset()  # plan afresh from the hand as it is (no memory of watching)
                operator.begin_intervention(scene)
                takeovers.append(REASON_NAMES[out.reason])
            elif out.edge != EDGE_NONE and operator.intervening:
                operator.reset()  # back to watching, with a fresh look
            if out.edge == EDGE_HANDBACK:
                handbacks.append(REASON_NAMES[out.reason])
            writer.write_tick(tick * dt_ns, obs.joint_positions, obs.joint_velocities, out.command,
                              object_state=obs.object_state, policy_command=proposal.target,
                              source=out.source, edge=out.edge, reason=out.reason,
                              intervention_id=out.intervention_id, images=obs.images or None,
                              human_idle_time=out.human_idle_time, detail=out.detail)
            sources.append(out.source)
            commands.append(out.command)
            transitions.append(out.transition)
            obs = task.step(step.target)
            reached = stage_index(task, task.stage_reached())
            if reached > furthest:
                furthest = reached
                writer.write_stage(tick * dt_ns, spec.stages[reached])
            if task.is_success():
                break
        success = bool(task.is_success())
        path = writer.close(OUTCOME_SUCCESS if success else OUTCOME_FAILURE)
    sources = np.asarray(sources)
    steps = np.abs(np.diff(np.asarray(commands), axis=0)).max(axis=1) if len(commands) > 1 else np.zeros(0)
    at_edges = steps[np.asarray(transitions[1:], bool)] if steps.size else steps
    return RolloutSummary(
        seed=seed, stage=stage, success=success, steps=len(sources),
        human_steps=int(np.sum(sources == SOURCE_HUMAN)), hold_steps=int(np.sum(sources == SOURCE_SAFETY_HOLD)),
        interventions=len(takeovers), intervention_lengths=intervention_lengths(sources == SOURCE_HUMAN),
        takeover_reasons=takeovers, handback_reasons=handbacks,
        max_transition_step=float(at_edges.max()) if at_edges.size else 0.0,
        max_step=float(steps.max()) if steps.size else 0.0, path=str(path),
        clipped_steps=chain.counts.clipped_ticks, rate_limited_steps=chain.counts.rate_limited_ticks)


def collect_dagger_round(policy: Any, task_name: str, out_dir: Path | str, seeds: Sequence[int],
                         stage_mix: float = 0.5, latency_ticks: int = 2,
                         operator_config: OperatorConfig | None = None,
                         config: DaggerConfig | None = None, cameras: Sequence[str] | None = None,
                         progress: bool = True) -> list[RolloutSummary]:
    """Collect one DAgger round: one episode per seed, bags under `out_dir`.

    policy: a `PolicyRunner` (or a `ChunkPredictor` stand-in). `stage_mix` and `latency_ticks`
    override `config`'s. A stage the stage library cannot reach for a seed falls back to
    "init" (noted in the summary).
    """
    config = DaggerConfig() if config is None else config
    config = dataclasses.replace(config, stage_mix=stage_mix, latency_ticks=latency_ticks)
    setup = make_dagger_setup(policy, task_name, config, operator_config, cameras)
    out_dir = Path(out_dir)
    summaries = []
    bar = tqdm(list(seeds), desc=f"dagger {task_name}", unit="ep", disable=not progress, leave=False)
    try:
        for seed in bar:
            stage, note = choose_start_stage(setup.task.spec.stages, seed, config.stage_mix), ""
            if stage != INIT_STAGE:
                try:
                    setup.library.get(seed, stage)
                except StageUnreachableError as error:
                    stage, note = INIT_STAGE, f"fell back to init: {error}"
            summary = run_dagger_episode(setup, seed, stage, out_dir)
            summary.note = note
            summaries.append(summary)
            bar.set_postfix(success=f"{sum(s.success for s in summaries)}/{len(summaries)}",
                            human=f"{sum(s.human_steps for s in summaries)}", refresh=False)
    finally:
        setup.chain.scheduler.close()
        setup.task.close()
    return summaries
