"""Where the `--full` experiment's time goes, and what the faster chunk sampler cuts from it.

1. The committed `--full` run (`results/experiment_full/results.json`, 117 evaluated cells, 3
   training seeds, 100 evaluation episodes per cell): hours of policy training, of
   evaluation and of critic training, from the seconds each cell recorded (cells computed on
   two cores side by side, `--jobs 2`); the DAgger rollouts and demonstrations are not
   recorded per cell there and are listed as unknown.
2. Measured now, side by side on this machine: evaluation episodes of relocate (the twin's
   control chain, async, d = 2) with one policy at the experiment's size (hidden 512,
   indicator-conditioned with CFG w = 1.5 as DexPIE is deployed; random weights: an
   untrained policy runs every episode to the step limit, and the cost per tick is what is
   compared), with each chunk sampler in turn (linear_backend "torch", "numpy",
   "onnxruntime"), episode by episode; and one training step at the full settings (batch
   256), BC and indicator-conditioned.
3. The full run's evaluation hours scaled by the measured per-tick ratio of each sampler to
   "torch" (the evaluation cost of the committed run was paid with torch products and numpy
   products inside the torch loop; "torch" is the closest stand-in measured here).

    .venv/bin/python benchmarks/experiment_cost.py [--episodes 6] [--train-steps 20]
"""
from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import time
from pathlib import Path

import torch

from dexpie_experiment.evaluation import EvalConfig, evaluate_policy
from dexpie_sim.registry import make_task

from policy_inference_latency import make_runner
from policy_training_throughput import measure as measure_training

RESULTS = Path(__file__).resolve().parent / "results"
FULL_RUN = RESULTS / "experiment_full" / "results.json"
BACKENDS = ("torch", "numpy", "onnxruntime")


def full_run_hours(path: Path) -> dict:
    """Hours by kind of cell in a finished run's results.json."""
    results = json.loads(path.read_text())
    hours = collections.Counter()
    by_row = collections.Counter()
    for entry in results["entries"]:
        hours["policy training"] += (entry.get("train_seconds") or 0) / 3600
        hours["evaluation"] += (entry.get("eval_seconds") or 0) / 3600
        by_row[entry["row"]] += (entry.get("train_seconds") or 0) / 3600
    for pipeline in results["pipelines"].values():   # "<task>/seed<k>/<variant>"
        hours["critic training"] += sum(c.get("seconds", 0) for c in _critics(pipeline)) / 3600
    episodes = sum(e["episodes"] for e in results["entries"])
    return dict(hours=dict(hours), training_hours_by_row=dict(by_row), eval_episodes=episodes,
                cells=len(results["entries"]))


def _critics(variant: dict) -> list[dict]:
    critic = variant.get("critic")
    if isinstance(critic, dict):
        return [critic]
    return [c for c in (critic or []) if isinstance(c, dict)]


def evaluation_ticks(episodes: int, first_seed: int) -> dict:
    """Seconds per evaluation tick with each sampler, episodes rotating over the samplers."""
    runner = make_runner("relocate", True)
    task = make_task("relocate")
    seconds, ticks = collections.Counter(), collections.Counter()
    runners = {}
    for backend in BACKENDS:   # one model: the samplers differ, the weights do not
        runners[backend] = copy.copy(runner)
        runners[backend].linear_backend = backend
        runners[backend].warm_up(4, cfg_scale=1.5)
    for episode in range(episodes):
        for backend in BACKENDS:
            config = EvalConfig(episodes=1, first_seed=first_seed + episode, cfg_scale=1.5)
            start = time.perf_counter()
            report = evaluate_policy(runners[backend], task, config, progress=False)
            seconds[backend] += time.perf_counter() - start
            ticks[backend] += int(report.to_dict()["mean_steps"])
    task.close()
    return {backend: dict(seconds=seconds[backend], ticks=ticks[backend],
                          ms_per_tick=1000.0 * seconds[backend] / ticks[backend])
            for backend in BACKENDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=6, help="evaluation episodes per sampler")
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS / "experiment_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    full = full_run_hours(FULL_RUN)
    load_before = os.getloadavg()[0]
    evaluation = evaluation_ticks(args.episodes, 100_000)
    training = [measure_training(conditioned, args.train_steps, warmup=3)
                for conditioned in (False, True)]
    load_after = os.getloadavg()[0]

    total = sum(full["hours"].values())
    print(f"1. the committed --full run ({full['cells']} evaluated cells, {full['eval_episodes']} "
          f"evaluation episodes), hours recorded per cell:")
    for kind, hours in sorted(full["hours"].items(), key=lambda kv: -kv[1]):
        print(f"   {kind:<18} {hours:6.2f} h  ({100 * hours / total:4.1f} %)")
    print(f"   {'recorded':<18} {total:6.2f} h  (DAgger rollouts and demonstrations: not recorded "
          "per cell)")
    print("   policy training by row: " + ", ".join(
        f"{row} {hours:.2f} h" for row, hours in sorted(full["training_hours_by_row"].items(),
                                                       key=lambda kv: -kv[1])))
    print(f"\n2. measured now (load {load_before:.2f} -> {load_after:.2f}, {os.cpu_count()} cores, "
          f"1 torch thread), relocate, {args.episodes} evaluation episodes per sampler, rotating:")
    base = evaluation["torch"]["ms_per_tick"]
    for backend, cell in evaluation.items():
        print(f"   evaluation, {backend:<12} {cell['ms_per_tick']:6.2f} ms per tick "
              f"({cell['ticks']} ticks, {cell['seconds']:.1f} s; x{cell['ms_per_tick'] / base:.2f} "
              "of torch)")
    for row in training:
        kind = "indicator-conditioned" if row["conditioned"] else "BC"
        print(f"   training step, {kind:<22} {256 / row['samples_per_s_median']:6.3f} s per step "
              f"(batch 256, median of {row['steps'] - row['warmup_steps']})")
    eval_hours = full["hours"].get("evaluation", 0.0)
    print("\n3. the full run's evaluation hours with each sampler (scaled by the per-tick ratio "
          "to torch):")
    projection = {}
    for backend, cell in evaluation.items():
        projection[backend] = eval_hours * cell["ms_per_tick"] / base
        print(f"   {backend:<12} {projection[backend]:5.2f} h")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "experiment_cost", "full_run": full,
                                    "evaluation": evaluation, "training": training,
                                    "evaluation_hours_by_sampler": projection,
                                    "load_average": [load_before, load_after]}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
