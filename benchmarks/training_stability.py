"""How much a BC policy's success depends on the training seed, with the last iterate of a
constant learning rate vs a cosine-decayed learning rate vs cosine + an EMA of the weights.

Same operator demonstrations (the main job's per-task budget), same model size and steps,
same evaluation seeds; only the training seed and the optimisation variant change. Cells are
resumable (<out>/<task>/<variant>/seed<k>/eval.json) and run in `--jobs` processes.
Prints per task and variant the successes of every seed, the pooled rate with its Wilson 95 %
interval and the spread over seeds; writes JSON.

    .venv/bin/python benchmarks/training_stability.py [--tasks relocate door hammer]
        [--seeds 0 1 2] [--episodes 30] [--steps 2000] [--jobs 2] [--out DIR]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from dexpie_experiment.main_job import REFERENCE_DEMOS
from dexpie_experiment.cell_cache import write_json
from dexpie_experiment.evaluation import wilson_interval
from dexpie_experiment.pipeline import PipelineConfig
from dexpie_experiment.pipeline_work import demo_cell, evaluate_checkpoint
from dexpie_learning.train.bc import BCConfig, train_bc
from dexpie_sim.registry import TASK_NAMES

RESULTS = Path(__file__).parent / "results"
VARIANTS = {
    "last-iterate": dict(lr_schedule="constant", ema_decay=0.0),
    "cosine": dict(lr_schedule="cosine", ema_decay=0.0),
    "cosine+ema": dict(lr_schedule="cosine", ema_decay=0.999),
}


def run_cell(task: str, variant: str, seed: int, args: dict, out: Path) -> dict:
    """Train BC of one (task, variant, seed) on the task's demos and evaluate it (cached)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cell = out / task / variant / f"seed{seed}"
    if not (cell / "eval.json").exists():
        config = BCConfig(steps=args["steps"], hidden_size=args["hidden_size"], seed=seed,
                          **VARIANTS[variant])
        if not (cell / "policy" / "training.json").exists():
            train_bc([out / task / "demos"], cell / "policy", config, progress=False,
                     torch_threads=1)
        pipeline = PipelineConfig(task=task, eval_episodes=args["episodes"], torch_threads=1)
        evaluate_checkpoint(pipeline, variant, cell / "policy", cell / "eval.json",
                            progress=False, log=lambda message: None)
    result = json.loads((cell / "eval.json").read_text())
    return dict(task=task, variant=variant, seed=seed, successes=result["successes"],
                episodes=result["episodes"])


def summarise(cells: list[dict]) -> list[dict]:
    rows = []
    for task in dict.fromkeys(c["task"] for c in cells):
        for variant in dict.fromkeys(c["variant"] for c in cells):
            mine = sorted((c for c in cells if c["task"] == task and c["variant"] == variant),
                          key=lambda c: c["seed"])
            if not mine:
                continue
            successes = sum(c["successes"] for c in mine)
            episodes = sum(c["episodes"] for c in mine)
            rates = [c["successes"] / c["episodes"] for c in mine]
            rows.append(dict(task=task, variant=variant, seeds=[c["seed"] for c in mine],
                             per_seed=[c["successes"] for c in mine], successes=successes,
                             episodes=episodes, success_rate=successes / episodes,
                             ci95=list(wilson_interval(successes, episodes)),
                             seed_std=statistics.pstdev(rates),
                             seed_range=max(rates) - min(rates)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=Path("runs/training_stability"))
    parser.add_argument("--json", type=Path, default=RESULTS / "training_stability.json")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    settings = dict(steps=args.steps, hidden_size=args.hidden_size, episodes=args.episodes)
    for task in args.tasks:   # demos first, once per task (the cells share them)
        demo_cell(args.out / task / "demos", task, range(REFERENCE_DEMOS[task]), progress=False,
                  log=print, population="expert")
    jobs = [(t, v, s) for s in args.seeds for t in args.tasks for v in args.variants]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_cell, t, v, s, settings, args.out) for t, v, s in jobs]
        cells = []
        for future in futures:
            cells.append(future.result())
            c = cells[-1]
            print(f"{c['task']:<9} {c['variant']:<13} seed {c['seed']}: "
                  f"{c['successes']}/{c['episodes']}", flush=True)
    rows = summarise(cells)
    print(f"\n{'task':<9} {'variant':<13} {'per seed':<16} {'pooled':>9} {'95 % CI':>14} "
          f"{'seed std':>9} {'range':>6}")
    for r in rows:
        print(f"{r['task']:<9} {r['variant']:<13} {str(r['per_seed']):<16} "
              f"{r['successes']:>3}/{r['episodes']:<5} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] "
              f"{r['seed_std']:>9.3f} {r['seed_range']:>6.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, dict(benchmark="training_stability", settings=settings,
                               demos={t: REFERENCE_DEMOS[t] for t in args.tasks},
                               variants={v: VARIANTS[v] for v in args.variants},
                               config=dataclasses.asdict(BCConfig()), rows=rows, cells=cells,
                               machine=dict(torch=torch.__version__, cpus=os.cpu_count(),
                                            jobs=args.jobs),
                               seconds=time.perf_counter() - start))
    print(f"\nwrote {args.json} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
