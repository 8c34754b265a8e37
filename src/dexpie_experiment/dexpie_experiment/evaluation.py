"""Evaluate a policy checkpoint in the twin: seeded episodes from initial states, no
interventions, the chunk scheduler in a chosen execution mode under a simulated clock
(inference latency modelled as `latency_ticks` control ticks).

Every tick runs the robot's control chain (`dexpie_control.chain.ControlChain`, configured for
the twin by `dexpie_sim.twin_chain`): scheduler -> intervention arbiter (no devices: the policy
keeps control; an invalid proposal makes it hold) -> hand controller (joint limits, rate
limit, NaN rejection, watchdog) -> the task, which executes the hand controller's target.

Reports success rate with a 95 % Wilson interval, episode length, action smoothness (per-tick
steps of the policy's commands, /policy/command, before the hand controller: the largest
step relative to the median shows chunk-boundary jumps), and how often the hand controller
changed what the policy asked for (`clipped_ticks`, `rate_limited_ticks`, `safety_hold_ticks`),
so that a change in success under the limits can be explained.

A policy that cannot run on the task is an error, never a low success rate: a checkpoint whose
joints, object features or cameras are not the task's is refused before any episode
(`check_policy_fits_task`), and an inference failure during an episode stops the evaluation
with the error (the simulated-clock scheduler raises `InferenceError`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from dexpie_control.chain import ControlChain
from dexpie_policy.runner import PolicyRunner
from dexpie_policy.scheduler import ChunkScheduler, Observation, RunnerPredictor
from dexpie_sim.tasks.base import HandTask
from dexpie_sim.twin_chain import twin_control_chain


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % confidence interval of a success rate (Wilson score; sane at 0 and n)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class EvalConfig:
    episodes: int = 50
    first_seed: int = 100_000      # disjoint from the demonstration seeds
    mode: str = "async"            # async | naive_async | sync
    latency_ticks: int = 2         # d: inference latency in control ticks
    request_threshold: int = 4     # request a chunk when this many actions remain
    max_prefix_steps: int = 4      # committed prefix given to the policy (<= training D)
    optimality: float | None = None  # indicator asked for (None: policy default)
    cfg_scale: float = 1.5

    def __post_init__(self):
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.mode not in ("async", "naive_async", "sync"):
            raise ValueError(f"mode must be async, naive_async or sync, got {self.mode!r}")
        if self.latency_ticks < 0:
            raise ValueError(f"latency_ticks must be >= 0, got {self.latency_ticks}")
        check_conditioning(self.optimality, self.cfg_scale)


def check_conditioning(optimality: float | None, cfg_scale: float) -> None:
    """The indicator asked for and the guidance weight, in the ranges `policy_server` accepts
    (a NaN would make every chunk non-finite)."""
    if optimality is not None and not 0.0 <= optimality <= 1.0:
        raise ValueError(f"optimality must be in [0, 1] or None, got {optimality!r}")
    if not 0.0 <= cfg_scale <= 100.0:
        raise ValueError(f"cfg_scale must be in [0, 100], got {cfg_scale!r}")


@dataclass
class EpisodeResult:
    seed: int
    success: bool
    steps: int
    hold_ticks: int            # ticks the hand held because no action was available
    median_step: float         # median per-tick change of the policy's command (L2 over joints)
    max_step: float            # largest per-tick change of the policy's command
    diverged: bool = False     # the physics blew up (MuJoCo reset the state): a failure
    clipped_ticks: int = 0     # the hand controller clipped the command to limits or rate-limited it
    rate_limited_ticks: int = 0  # of those, ticks where the rate limit acted
    safety_hold_ticks: int = 0   # the arbiter (invalid proposal) or the hand controller held the hand


@dataclass
class EvalReport:
    task: str
    mode: str
    latency_ticks: int
    episodes: int
    successes: int
    success_rate: float
    ci95: tuple[float, float]
    mean_steps: float
    mean_steps_success: float | None
    mean_hold_fraction: float
    jump_ratio: float          # mean over episodes of max_step / median_step
    diverged_episodes: int = 0  # episodes that ended because the physics diverged
    clipped_ticks: int = 0      # over all episodes: the hand controller changed the policy's command
    rate_limited_ticks: int = 0  # of those, by its rate limit
    safety_hold_ticks: int = 0   # over all episodes: the arbiter or the hand controller held the hand
    results: list[EpisodeResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def check_policy_fits_task(runner: PolicyRunner, task: HandTask) -> None:
    """Raise ValueError, naming what differs, when the policy cannot run on `task`: other
    joints (or another order), another number of object-state features than the task's
    `object_names`, or cameras the task does not render (or at another image size)."""
    name, config = task.spec.name, runner.config
    policy_joints, task_joints = list(runner.joint_names), list(task.spec.joint_names)
    if policy_joints != task_joints:
        missing = [j for j in task_joints if j not in policy_joints]
        unknown = [j for j in policy_joints if j not in task_joints]
        detail = (f"the task's joints {missing} are not in the policy, the policy's joints "
                  f"{unknown} are not the task's" if missing or unknown else
                  f"the same joints in another order (policy {policy_joints}, task {task_joints})")
        raise ValueError(f"the policy does not fit task {name!r}: {detail}")
    objects = len(task.spec.object_names)
    if config.object_dim and config.object_dim != objects:
        raise ValueError(f"the policy does not fit task {name!r}: it was trained on "
                         f"{config.object_dim} object-state features, the task has {objects} "
                         f"({', '.join(task.spec.object_names)})")
    missing_cameras = [c for c in config.camera_names if c not in task.cameras]
    if missing_cameras:
        raise ValueError(f"the policy does not fit task {name!r}: it needs images from cameras "
                         f"{missing_cameras}, the task renders {list(task.cameras)} "
                         f"(dexpie-evaluate: --camera)")
    size = (task.image_size, task.image_size)
    if config.camera_names and tuple(config.image_size) != size:
        raise ValueError(f"the policy does not fit task {name!r}: it was trained on "
                         f"{tuple(config.image_size)} images, the task renders {size}")


def run_policy_episode(task: HandTask, chain: ControlChain, seed: int) -> EpisodeResult:
    """One episode from the seeded initial state until success or the step limit, every tick
    through `chain` (its scheduler proposes, the task executes the hand controller's target)."""
    torch.manual_seed(seed)  # the flow's noise: episodes are reproducible
    obs = task.reset(seed)
    chain.start_episode(obs.joint_positions, now=0.0)
    dt = task.spec.control_dt
    proposals, holds = [], 0
    while not task.timed_out:
        observation = Observation(obs.joint_positions, stamp=task.tick, tick=task.tick,
                                  extras={"object_state": obs.object_state,
                                          "images": obs.images or None})
        tick = chain.step(task.tick * dt, obs.joint_positions, observation=observation)
        holds += tick.proposal.hold
        proposals.append(tick.proposal.target)
        obs = task.step(tick.target)
        if task.is_success():
            break
    steps = np.linalg.norm(np.diff(np.asarray(proposals), axis=0), axis=1) if len(proposals) > 1 else np.zeros(1)
    counts = chain.counts
    return EpisodeResult(seed, bool(task.is_success()), task.tick, holds,
                         float(np.median(steps)), float(steps.max()), bool(task.diverged),
                         clipped_ticks=counts.clipped_ticks, rate_limited_ticks=counts.rate_limited_ticks,
                         safety_hold_ticks=counts.hold_ticks)


def evaluate_policy(runner: PolicyRunner, task: HandTask, config: EvalConfig = EvalConfig(),
                    progress: bool = True) -> EvalReport:
    """Run `config.episodes` seeded episodes. Raises ValueError (before any episode) for a
    policy that does not fit the task, and `InferenceError` when inference fails."""
    check_policy_fits_task(runner, task)
    runner_kwargs = {"cfg_scale": config.cfg_scale}
    if config.optimality is not None:
        runner_kwargs["optimality"] = config.optimality
    scheduler = ChunkScheduler.simulated(RunnerPredictor(runner, **runner_kwargs),
                                         latency_ticks=config.latency_ticks, mode=config.mode,
                                         request_threshold=config.request_threshold,
                                         max_prefix_steps=config.max_prefix_steps)
    # No devices take part: the arbiter's teleop pipeline is the task's, never engaged.
    chain = twin_control_chain(task.spec.name, task.make_teleop(), scheduler=scheduler)
    seeds = range(config.first_seed, config.first_seed + config.episodes)
    results = []
    bar = tqdm(seeds, desc=f"eval {task.spec.name} {config.mode}", unit="ep", disable=not progress, leave=False)
    for seed in bar:
        results.append(run_policy_episode(task, chain, seed))
        bar.set_postfix(success=f"{sum(r.success for r in results)}/{len(results)}", refresh=False)
    scheduler.close()
    successes = sum(r.success for r in results)
    successful = [r.steps for r in results if r.success]
    return EvalReport(
        task=task.spec.name, mode=config.mode, latency_ticks=config.latency_ticks,
        episodes=len(results), successes=successes, success_rate=successes / len(results),
        ci95=wilson_interval(successes, len(results)),
        mean_steps=float(np.mean([r.steps for r in results])),
        mean_steps_success=float(np.mean(successful)) if successful else None,
        mean_hold_fraction=float(np.mean([r.hold_ticks / max(r.steps, 1) for r in results])),
        jump_ratio=float(np.mean([r.max_step / max(r.median_step, 1e-9) for r in results])),
        diverged_episodes=sum(r.diverged for r in results),
        clipped_ticks=sum(r.clipped_ticks for r in results),
        rate_limited_ticks=sum(r.rate_limited_ticks for r in results),
        safety_hold_ticks=sum(r.safety_hold_ticks for r in results), results=results)
