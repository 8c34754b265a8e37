"""What the cells of `pipeline` compute: operator demonstrations, a DAgger
round with the simulated operator intervening, an evaluation without interventions. Each
writes into a folder/file the pipeline then marks finished (locks and caching are the
pipeline's)."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from dexpie_experiment.cell_cache import cell_lock, fresh_partial, write_json


def demo_cell(final: Path, task_name: str, seeds: range, cameras: tuple[str, ...] = (),
              progress: bool = True, log=print, *, population: str) -> float | None:
    """A cached folder of operator demonstrations of `seeds` by the operator `population`
    (complete.json: seeds, successes, steps, human_steps, operator_population); a finished
    folder made for other seeds or by another population is refused. Returns the seconds
    spent, None when it was cached."""
    seconds = None
    if not (final / "complete.json").exists():
        with cell_lock(final):
            if not (final / "complete.json").exists():
                start = time.perf_counter()
                partial = fresh_partial(final)
                record_demos(task_name, partial, seeds, cameras, progress, log,
                             population=population)
                partial.rename(final)
                seconds = time.perf_counter() - start
                log(f"[demos] done in {seconds:.1f} s")
    done = json.loads((final / "complete.json").read_text())
    if done["seeds"] != list(seeds):
        raise ValueError(f"{final} holds demos of seeds {done['seeds'][:3]}.. "
                         f"({len(done['seeds'])}), wanted {list(seeds)[:3]}.. ({len(seeds)})")
    made_by = done.get("operator_population", "expert")   # written before populations: expert
    if made_by != population:
        raise ValueError(f"{final} holds demos by operator population {made_by!r}, wanted "
                         f"{population!r}")
    return seconds


def record_demos(task_name: str, partial: Path, seeds: range, cameras: tuple[str, ...],
                 progress: bool, log, *, population: str) -> None:
    """The simulated operator `population` demonstrates `task_name` once per seed into
    `partial` (seed s by `member_for_episode(population, s)`)."""
    from tqdm import tqdm

    from dexpie_experiment.sim_collection import record_operator_demo
    from dexpie_sim.operators.population import member_for_episode
    from dexpie_sim.registry import make_operator, make_task
    from dexpie_sim.stages import StageLibrary
    task = make_task(task_name, cameras=tuple(cameras))
    library = StageLibrary(task, make_operator(task_name, task, seed=0))
    operator = make_operator(task_name, task, seed=1)
    log(f"[demos] {len(seeds)} operator demonstrations of {task_name} (seeds "
        f"{seeds.start}..{seeds.stop - 1}) -> {partial.with_suffix('')}")
    episodes = []
    bar = tqdm(seeds, desc=f"demos {task_name}", unit="ep", disable=not progress, leave=False)
    for seed in bar:
        member = member_for_episode(population, seed)
        operator.set_profile(member)
        episodes.append(record_operator_demo(
            library, operator, seed, partial,
            note=f"operator demonstration, operator {member.tier} #{member.identity}"))
        bar.set_postfix(success=f"{sum(e.success for e in episodes)}/{len(episodes)}")
    task.close()
    write_json(partial / "complete.json", dict(
        seeds=list(seeds), successes=sum(e.success for e in episodes),
        steps=sum(e.steps for e in episodes),
        human_steps=sum(e.human_steps for e in episodes), cameras=list(cameras),
        operator_population=population))


def record_rollouts(c, round_index: int, policy_dir: Path, final: Path, progress: bool,
                    log) -> None:
    """DAgger round `round_index` of PipelineConfig `c` with the policy in `policy_dir`."""
    from dexpie_experiment.dagger import DaggerConfig, collect_dagger_round
    from dexpie_experiment.dagger_report import summarize_round
    from dexpie_policy.runner import PolicyRunner
    from dexpie_sim.registry import task_spec
    runner = PolicyRunner.from_pretrained(policy_dir, torch_threads=c.torch_threads)
    first = c.first_rollout_seed + 1000 * (round_index - 1)
    seeds = list(range(first, first + c.rollouts))
    partial = fresh_partial(final)
    log(f"[rollouts] round {round_index}: {c.rollouts} DAgger episodes "
        f"({c.rollout_mode}, stage mix {c.stage_mix}) with {policy_dir}")
    summaries = collect_dagger_round(runner, c.task, partial, seeds, stage_mix=c.stage_mix,
                                     latency_ticks=c.latency_ticks,
                                     config=DaggerConfig(mode=c.rollout_mode,
                                                         operator_population=c.operator_population),
                                     progress=progress)
    for summary in summaries:   # bag paths as they will be once the folder is renamed
        summary.path = summary.path.replace(str(partial), str(final))
    report = summarize_round(c.task, summaries, task_spec(c.task).stages)
    write_json(partial / "summary.json", dict(report.to_dict(), policy=str(policy_dir),
                                               seeds=seeds))
    partial.rename(final)


def evaluate_checkpoint(c, method: str, policy_dir: Path, cell: Path, progress: bool,
                        log) -> None:
    """Evaluate a checkpoint as PipelineConfig `c` says (its deployment s and w) into `cell`."""
    from dexpie_experiment.evaluation import EvalConfig, evaluate_policy
    from dexpie_policy.runner import PolicyRunner
    from dexpie_sim.registry import make_task
    training = json.loads((policy_dir / "training.json").read_text())
    deployment = training.get("deployment") or {}
    eval_config = EvalConfig(episodes=c.eval_episodes, first_seed=c.first_eval_seed,
                             mode=c.eval_mode, latency_ticks=c.latency_ticks,
                             optimality=deployment.get("optimality"),
                             cfg_scale=deployment.get("cfg_scale", EvalConfig.cfg_scale))
    log(f"[eval] {method}: {c.eval_episodes} episodes, {c.eval_mode}, "
        f"d = {c.latency_ticks}")
    runner = PolicyRunner.from_pretrained(policy_dir, torch_threads=c.torch_threads)
    task = make_task(c.task)
    start = time.perf_counter()
    report = evaluate_policy(runner, task, eval_config, progress=progress)
    task.close()
    result = dict(report.to_dict(), method=method, eval_config=dataclasses.asdict(eval_config),
                  eval_seconds=time.perf_counter() - start, policy=str(policy_dir))
    write_json(cell, result)
    log(f"[eval] {method}: {report.successes}/{report.episodes} "
        f"[{report.ci95[0]:.2f}, {report.ci95[1]:.2f}]")
