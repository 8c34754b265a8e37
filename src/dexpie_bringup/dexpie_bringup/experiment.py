"""`dexpie-experiment`: the README's main job, in the MuJoCo twin on embedded defaults.

Today it runs the first step of the DexPIE loop: the simulated operator (glove + spacemouse
through the teleop core) demonstrates every task; each demonstration is one episode bag in
`<out>/demos/<task>/`. Later steps (BC reference, DAgger rounds with interventions, critic,
indicator-conditioned policy, evaluation) extend this same command.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from dexpie_learning.sim_collection import record_operator_demo
from dexpie_sim.registry import TASK_NAMES, make_operator, make_task
from dexpie_sim.stages import StageLibrary


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dexpie-experiment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES,
                        help="tasks to run (default: all)")
    parser.add_argument("--demos", type=int, default=20, help="operator demonstrations per task (default: 20)")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first demonstration")
    parser.add_argument("--out", type=Path, default=Path("runs/latest"), help="output folder (default: runs/latest)")
    parser.add_argument("--camera", action="append", default=[], metavar="NAME",
                        help="also record images from this camera (repeatable)")
    args = parser.parse_args(argv)
    if args.demos < 1:
        parser.error(f"--demos must be >= 1, got {args.demos}")
    return args


def collect_demos(task_name: str, n: int, first_seed: int, out: Path, cameras: tuple[str, ...]) -> dict:
    task = make_task(task_name, cameras=cameras)
    library = StageLibrary(task, make_operator(task_name, task, seed=first_seed))
    operator = make_operator(task_name, task, seed=first_seed + 1)
    folder = out / "demos" / task_name
    episodes = []
    start = time.perf_counter()
    progress = tqdm(range(first_seed, first_seed + n), desc=f"demos {task_name}", unit="ep", file=sys.stdout)
    for seed in progress:
        episodes.append(record_operator_demo(library, operator, seed, folder))
        progress.set_postfix(success=f"{sum(e.success for e in episodes)}/{len(episodes)}")
    task.close()
    steps = sum(e.steps for e in episodes)
    return dict(task=task_name, folder=str(folder), episodes=len(episodes),
                successes=sum(e.success for e in episodes), steps=steps,
                human_steps=sum(e.human_steps for e in episodes),
                intervention_fraction=sum(e.human_steps for e in episodes) / max(steps, 1),
                seconds=time.perf_counter() - start)


def print_summary(rows: list[dict]) -> None:
    header = f"{'task':<10} {'episodes':>8} {'success':>9} {'steps':>7} {'human steps':>12} {'intervention':>13}"
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        print(f"{r['task']:<10} {r['episodes']:>8} {r['successes']:>4}/{r['episodes']:<4} {r['steps']:>7} "
              f"{r['human_steps']:>12} {r['intervention_fraction']:>13.2f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"DexPIE in the MuJoCo twin: tasks {args.tasks}, {args.demos} operator demos each -> {args.out}")
    rows = [collect_demos(name, args.demos, args.first_seed, args.out, tuple(args.camera)) for name in args.tasks]
    print_summary(rows)
    summary = args.out / "demos_summary.json"
    summary.write_text(json.dumps(rows, indent=2))
    print(f"\nepisode bags: {args.out / 'demos'}   summary: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
