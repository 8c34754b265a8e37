"""BC success per task as a function of the number of operator demonstrations, with async
(relative actions + committed prefix) vs sync (stop, infer, execute) execution, side by side
on the same checkpoints and evaluation seeds.

Demonstrations are collected once per task in increments (seeds 0..N-1), so the policy for
n demos is trained on exactly the first n. Resumable: finished cells are read back from
<out>. Prints a table, writes JSON and a PNG plot.

    .venv/bin/python benchmarks/bc_demo_scaling.py [--tasks relocate door hammer]
        [--demos 10 25 50 100] [--episodes 50] [--latency-ticks 2] [--steps 2000]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from tqdm import tqdm

from dexpie_experiment.evaluation import EvalConfig, evaluate_policy
from dexpie_experiment.sim_collection import record_operator_demo
from dexpie_learning.train.bc import BCConfig, train_bc
from dexpie_policy.runner import PolicyRunner
from dexpie_sim.registry import TASK_NAMES, make_operator, make_task
from dexpie_sim.stages import StageLibrary


def collect_increments(task_name: str, budgets: list[int], root: Path) -> list[Path]:
    """Folder k holds demos with seeds budgets[k-1]..budgets[k]-1 (budgets sorted)."""
    task = make_task(task_name)
    library = StageLibrary(task, make_operator(task_name, task, seed=0))
    operator = make_operator(task_name, task, seed=1)
    folders, start = [], 0
    for end in budgets:
        folder = root / f"seeds_{start:03d}_{end - 1:03d}"
        done = folder / "complete.json"
        if not done.exists():
            for seed in tqdm(range(start, end), desc=f"demos {task_name} {start}-{end - 1}", leave=False):
                record_operator_demo(library, operator, seed, folder)
            done.write_text(json.dumps({"seeds": [start, end - 1]}))
        folders.append(folder)
        start = end
    return folders


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), dpi=110, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for mode, color in (("async", "C0"), ("sync", "C3")):
            cells = sorted((r for r in rows if r["task"] == task and r["mode"] == mode), key=lambda r: r["demos"])
            x = [c["demos"] for c in cells]
            y = [c["success_rate"] for c in cells]
            err = [[c["success_rate"] - c["ci95"][0] for c in cells], [c["ci95"][1] - c["success_rate"] for c in cells]]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=color, label=mode)
        ax.set_title(f"BC on {task}")
        ax.set_xlabel("operator demonstrations")
        ax.set_xscale("log")
        ax.set_xticks(sorted({r["demos"] for r in rows if r["task"] == task}))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.minorticks_off()
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("success rate (95% CI)")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    parser.add_argument("--demos", nargs="+", type=int, default=[10, 25, 50, 100])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--latency-ticks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=BCConfig.steps)
    parser.add_argument("--report-only", action="store_true",
                        help="compute nothing: report the cells already finished under --work")
    parser.add_argument("--torch-threads", type=int, default=None, help="training threads (default: all cores)")
    parser.add_argument("--work", type=Path, default=Path("runs/bench_bc_scaling"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bc_demo_scaling.json"))
    args = parser.parse_args()
    budgets = sorted(args.demos)
    config = BCConfig(steps=args.steps)
    rows = []
    for task_name in args.tasks:
        if args.report_only:
            rows += [row for n in budgets if (args.work / task_name / f"bc_{n:03d}" / "eval.json").exists()
                     for row in json.loads((args.work / task_name / f"bc_{n:03d}" / "eval.json").read_text())]
            continue
        folders = collect_increments(task_name, budgets, args.work / task_name / "demos")
        task = make_task(task_name)
        for k, n in enumerate(budgets):
            cell = args.work / task_name / f"bc_{n:03d}"
            result_file = cell / "eval.json"
            if not result_file.exists():
                start = time.perf_counter()
                train_bc(folders[:k + 1], cell / "policy", config, progress=True,
                         torch_threads=args.torch_threads)
                train_seconds = time.perf_counter() - start
                runner = PolicyRunner.from_pretrained(cell / "policy")
                cell_rows = []
                for mode in ("async", "sync"):
                    report = evaluate_policy(runner, task, EvalConfig(
                        episodes=args.episodes, mode=mode, latency_ticks=args.latency_ticks))
                    row = {k2: v for k2, v in report.to_dict().items() if k2 != "results"}
                    # Human effort: operator-controlled steps = training samples of BC.
                    demo_steps = json.loads((cell / "policy" / "training.json").read_text())["samples"]
                    cell_rows.append(dict(row, demos=n, demo_steps=demo_steps, train_seconds=train_seconds))
                result_file.write_text(json.dumps(cell_rows, indent=2))
            rows += json.loads(result_file.read_text())
    header = f"{'task':<10} {'demos':>5} {'mode':<6} {'success':>9} {'95% CI':>14} {'steps':>6} {'hold':>6} {'jump':>6}"
    print(header + "\n" + "-" * len(header))
    for r in rows:
        steps = f"{r['mean_steps_success']:.0f}" if r["mean_steps_success"] else "-"
        print(f"{r['task']:<10} {r['demos']:>5} {r['mode']:<6} {r['successes']:>4}/{r['episodes']:<4} "
              f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] {steps:>6} {r['mean_hold_fraction']:>6.2f} {r['jump_ratio']:>6.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "bc_demo_scaling", "latency_ticks": args.latency_ticks,
                                    "bc_config": dataclasses.asdict(config), "rows": rows}, indent=2))
    plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
