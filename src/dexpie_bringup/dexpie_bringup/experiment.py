"""`dexpie-experiment`: the README's main job, in the MuJoCo twin on embedded defaults.

For every task: (1) the simulated operator (glove + spacemouse through the teleop core)
demonstrates it, one episode bag per demonstration in `<out>/demos/<task>/`; (2) the BC
reference policy (relative actions, training-time real-time chunking) is trained on those
bags into `<out>/policies/<task>_bc/`; (3) it is evaluated without interventions from
seeded initial states, executed asynchronously. Later steps of the DexPIE loop (DAgger
rounds with interventions, critic, indicator-conditioned policy) extend this same command.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from dexpie_learning.evaluate_cli import REPORT_HEADER, format_report_row
from dexpie_learning.evaluation import EvalConfig, evaluate_policy
from dexpie_learning.sim_collection import record_operator_demo
from dexpie_learning.train.bc import BCConfig, train_bc
from dexpie_policy.runner import PolicyRunner
from dexpie_sim.registry import TASK_NAMES, make_operator, make_task
from dexpie_sim.stages import StageLibrary

# The BC reference's demonstration budget per task: where BC is clearly imperfect, which is
# the situation DexPIE exists for (benchmarks/bc_demo_scaling.py measured BC success against
# the number of demonstrations; see README "Benchmarks").
REFERENCE_DEMOS = {"relocate": 20, "door": 5, "hammer": 10}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dexpie-experiment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES,
                        help="tasks to run (default: all)")
    parser.add_argument("--demos", type=int, default=None,
                        help="operator demonstrations per task (default: each task's reference budget, "
                             + ", ".join(f"{t} {n}" for t, n in REFERENCE_DEMOS.items()) + ")")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first demonstration")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: runs/<time>, linked as runs/latest)")
    parser.add_argument("--camera", action="append", default=[], metavar="NAME",
                        help="also record images from this camera (repeatable)")
    parser.add_argument("--bc-steps", type=int, default=BCConfig.steps, help="BC optimisation steps")
    parser.add_argument("--eval-episodes", type=int, default=50, help="evaluation episodes per task")
    parser.add_argument("--latency-ticks", type=int, default=EvalConfig.latency_ticks,
                        help="modelled inference latency d in control ticks")
    parser.add_argument("--demos-only", action="store_true", help="stop after collecting demonstrations")
    args = parser.parse_args(argv)
    for name in ("demos", "bc_steps", "eval_episodes"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def run_folder(out: Path | None) -> Path:
    """A fresh folder per run; runs/latest points at the newest."""
    if out is not None:
        return out
    runs = Path("runs")
    folder = runs / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=False)
    latest = runs / "latest"
    if latest.is_symlink() or not latest.exists():
        latest.unlink(missing_ok=True)
        latest.symlink_to(folder.name)
    return folder


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


def train_and_evaluate_bc(task_name: str, out: Path, args) -> dict:
    """Step 2 and 3: the BC reference on this run's demonstrations, then its evaluation."""
    checkpoint = out / "policies" / f"{task_name}_bc"
    config = BCConfig(steps=args.bc_steps, cameras=tuple(args.camera))
    print(f"\n[{task_name}] training the BC reference ({config.steps} steps) -> {checkpoint}")
    train_bc([out / "demos" / task_name], checkpoint, config)
    runner = PolicyRunner.from_pretrained(checkpoint)
    task = make_task(task_name, cameras=tuple(args.camera))
    report = evaluate_policy(runner, task, EvalConfig(episodes=args.eval_episodes,
                                                      latency_ticks=args.latency_ticks))
    task.close()
    return {k: v for k, v in report.to_dict().items() if k != "results"} | {"checkpoint": str(checkpoint)}


def main(argv=None) -> int:
    args = parse_args(argv)
    out = run_folder(args.out)
    out.mkdir(parents=True, exist_ok=True)
    demos = {name: args.demos or REFERENCE_DEMOS[name] for name in args.tasks}
    print(f"DexPIE in the MuJoCo twin: operator demos {demos} -> {out}")
    rows = [collect_demos(name, demos[name], args.first_seed, out, tuple(args.camera)) for name in args.tasks]
    print_summary(rows)
    (out / "demos_summary.json").write_text(json.dumps(rows, indent=2))
    if args.demos_only:
        print(f"\nepisode bags: {out / 'demos'}")
        return 0
    reports = [train_and_evaluate_bc(name, out, args) for name in args.tasks]
    (out / "bc_evaluation.json").write_text(json.dumps(reports, indent=2))
    print(f"\nBC reference, {args.eval_episodes} evaluation episodes per task from seeded initial states, "
          f"async execution, d = {args.latency_ticks} ticks:")
    print(REPORT_HEADER)
    for report in reports:
        print(format_report_row(report))
    print(f"\nresults: {out}  (episode bags in demos/, checkpoints and loss curves in policies/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
