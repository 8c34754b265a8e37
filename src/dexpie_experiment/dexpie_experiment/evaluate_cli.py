"""`dexpie-evaluate`: run a policy checkpoint in the twin for N seeded episodes and report
success (95 % CI), episode length and smoothness, per execution mode.

    dexpie-evaluate --checkpoint runs/latest/policies/relocate_bc --task relocate --modes async sync

Every failure is an error (exit status 2, one line), never a report: an unusable --json path,
bad settings or a checkpoint that does not fit the task are refused before any episode, and an
inference failure during an episode stops the evaluation.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dexpie_common.output_paths import check_output_file
from dexpie_experiment.evaluation import EvalConfig, check_policy_fits_task, evaluate_policy


def format_report_row(report: dict) -> str:
    """One table row of an `EvalReport.to_dict()`."""
    lo, hi = report["ci95"]
    steps = f"{report['mean_steps_success']:.0f}" if report["mean_steps_success"] is not None else "-"
    return (f"{report['task']:<10} {report['mode']:<12} {report['latency_ticks']:>2} "
            f"{report['successes']:>4}/{report['episodes']:<4} {report['success_rate']:>6.2f} [{lo:.2f}, {hi:.2f}] "
            f"{steps:>8} {report['mean_hold_fraction']:>7.2f} {report['jump_ratio']:>7.1f}")


# steps: mean length of successful episodes; hold: fraction of ticks the hand held for lack
# of an action; jump: largest per-tick target step / median step (chunk-boundary jumps).
REPORT_HEADER = (f"{'task':<10} {'mode':<12} {'d':>2} {'success':>9} {'rate':>6} {'95% CI':>12} "
                 f"{'steps':>8} {'hold':>7} {'jump':>7}")


def main(argv=None) -> int:
    from dexpie_policy.runner import PolicyRunner
    from dexpie_policy.scheduler import InferenceError
    from dexpie_sim.registry import TASK_NAMES, make_task

    parser = argparse.ArgumentParser(prog="dexpie-evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--task", required=True, choices=TASK_NAMES)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=EvalConfig.first_seed)
    parser.add_argument("--modes", nargs="+", default=["async"], choices=["async", "naive_async", "sync"])
    parser.add_argument("--latency-ticks", type=int, default=EvalConfig.latency_ticks)
    parser.add_argument("--cfg-scale", type=float, default=EvalConfig.cfg_scale)
    parser.add_argument("--camera", action="append", default=[])
    parser.add_argument("--json", type=Path, help="write the reports here")
    args = parser.parse_args(argv)
    try:
        if args.json is not None:
            check_output_file(args.json, "--json")
        configs = [EvalConfig(episodes=args.episodes, first_seed=args.first_seed, mode=mode,
                              latency_ticks=args.latency_ticks, cfg_scale=args.cfg_scale)
                   for mode in args.modes]
        runner = PolicyRunner.from_pretrained(args.checkpoint)
        task = make_task(args.task, cameras=tuple(args.camera))
        check_policy_fits_task(runner, task)
        reports = [evaluate_policy(runner, task, config) for config in configs]
    except (ValueError, InferenceError) as error:
        parser.exit(2, f"dexpie-evaluate: error: {error}\n")
    print(REPORT_HEADER)
    for report in reports:
        print(format_report_row(report.to_dict()))
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in reports], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
