"""Operator success rate per task and start stage (the twin's simulated human).

The simulated operator must solve every task from the initial stage and from every named
intermediate stage (reached by the operator on the same seed, snapshotted and restored),
>= 90 % over >= 50 seeded episodes each. Every tick runs the teleop graph's control chain
(devices -> arbiter, human-only -> hand controller -> hand); each row counts the ticks where the
hand controller clipped (to the joint limits, e.g. a start pose a hair beyond one) or
rate-limited the operator's command. Prints a table and writes JSON.

    .venv/bin/python benchmarks/operator_success.py [--tasks relocate door hammer] [--episodes 50]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tqdm import tqdm

from dexpie_experiment.evaluation import wilson_interval
from dexpie_sim.operator_rollout import run_operator_episode
from dexpie_sim.registry import TASK_NAMES, make_operator, make_task
from dexpie_sim.stages import StageLibrary, StageUnreachableError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--out", default="benchmarks/results/operator_success.json")
    args = parser.parse_args()

    rows = []
    for name in args.tasks:
        task = make_task(name)
        stager = make_operator(name, task, seed=0)
        operator = make_operator(name, task, seed=1)
        library = StageLibrary(task, stager)
        for stage in task.spec.stages:
            successes, steps, unreachable, clipped, rate_limited, held = 0, [], 0, 0, 0, 0
            start = time.perf_counter()
            for seed in tqdm(range(args.first_seed, args.first_seed + args.episodes),
                             desc=f"{name}/{stage}", leave=False):
                try:
                    result = run_operator_episode(library, operator, seed, stage)
                except StageUnreachableError:
                    unreachable += 1  # counts as a failure of the operator
                    continue
                successes += result.success
                steps.append(result.steps)
                clipped += result.clipped_ticks
                rate_limited += result.rate_limited_ticks
                held += result.safety_hold_ticks
            lo, hi = wilson_interval(successes, args.episodes)
            rows.append(dict(task=name, stage=stage, episodes=args.episodes, successes=successes,
                             success_rate=successes / args.episodes, ci95=[lo, hi],
                             stage_unreachable=unreachable,
                             mean_steps=(sum(steps) / len(steps)) if steps else None,
                             max_episode_steps=task.spec.max_episode_steps,
                             clipped_ticks=clipped, rate_limited_ticks=rate_limited, safety_hold_ticks=held,
                             seconds=time.perf_counter() - start))
    header = (f"{'task':<10} {'start stage':<14} {'success':>8} {'95% CI':>15} {'mean steps':>11} {'limit':>6} "
              f"{'clipped':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        ms = f"{r['mean_steps']:.0f}" if r["mean_steps"] is not None else "-"
        print(f"{r['task']:<10} {r['stage']:<14} {r['successes']:>3}/{r['episodes']:<4} "
              f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] {ms:>11} {r['max_episode_steps']:>6} "
              f"{r['clipped_ticks']:>8}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "operator_success", "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
