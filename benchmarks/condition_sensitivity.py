"""How much does the indicator s move the trained DexPIE policy?

For a finished main-job run (`<run>/<task>/seed0/dexpie`), the last round's DexPIE checkpoint
is scored on three groups of its own training samples: whole-human windows (demos and
takeovers, s = 1 by definition), policy ticks the critic rated well (s > 0.7) and policy ticks
it rated badly (s < 0.3). Each group's flow-matching loss is computed with the sample's own s,
with s = 1, with s = 0 and with the null condition, next to the run's HG-DAgger checkpoint on
the same samples. Noise, flow time and delay (0) are the same for every condition, so a
difference between columns is the condition's alone. If s mattered, human windows would fit
clearly better at s = 1 than at s = 0, and badly rated policy ticks clearly worse at s = 1
than at their own s.

The loss is mostly the flow's irreducible noise, so a small loss difference need not mean a
small change in what the policy does. The `actions` columns measure that directly: each
group's observations are sampled at s = 1 and at s = 0 from the same noise, and at s = 1 from
a second noise, all without guidance (w = 1; deployment's w = 1.5 amplifies the shift); `shift` is the RMS difference between the s = 1 and s = 0 chunks, `spread`
the RMS difference between the two s = 1 chunks (what sampling alone changes), `error_s1` /
`error_s0` the RMS distance of the chunks to the recorded actions (normalised action units,
padded steps left out). shift / spread well under 1: the condition moves the actions less
than the sampling noise does.

    .venv/bin/python benchmarks/condition_sensitivity.py --run /path/to/short_run
    # another DexPIE checkpoint of the same data, e.g. a label_variants cell:
    .venv/bin/python benchmarks/condition_sensitivity.py --run R \
        --checkpoint 'R/label_variants/{task}/smooth/policy' --out /tmp/smooth.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from dexpie_experiment.cell_cache import write_json

RESULTS = Path(__file__).parent / "results"
CONDITIONS = ("own", "s=1", "s=0", "null")


def sample_groups(human_window: np.ndarray, optimality: np.ndarray, high: float = 0.7,
                  low: float = 0.3) -> dict[str, np.ndarray]:
    """(N,) bool and (N,) s in [0, 1] -> sample indices of the three groups (disjoint)."""
    human_window = np.asarray(human_window, dtype=bool)
    optimality = np.asarray(optimality, dtype=np.float64)
    if human_window.shape != optimality.shape:
        raise ValueError(f"human_window {human_window.shape} and optimality "
                         f"{optimality.shape} differ")
    return {"human windows": np.flatnonzero(human_window),
            f"policy, s > {high}": np.flatnonzero(~human_window & (optimality > high)),
            f"policy, s < {low}": np.flatnonzero(~human_window & (optimality < low))}


def flow_loss(model, batch: dict, optimality, seed: int) -> float:
    """The model's training loss on `batch` with delay 0, asked for `optimality` ((B,)
    tensor, NaN = null, or None for an unconditioned model); noise and flow time from `seed`.
    The model must have optimality_dropout 0, or some samples would be asked for null."""
    import torch
    if optimality is not None:
        batch = dict(batch, optimality=optimality)
    with torch.no_grad():
        return float(model.compute_loss(
            batch, generator=torch.Generator().manual_seed(seed),
            delay_steps=torch.zeros(batch["action"].shape[0], dtype=torch.long)))


def action_shift(model, batch: dict, seed: int) -> dict:
    """RMS chunk differences (normalised units, unpadded steps) between s = 1 and s = 0 on the
    same noise (`shift`), between two noises at s = 1 (`spread`), and of each to the
    recorded actions (`error_s1`, `error_s0`); batch as for `flow_loss`."""
    import torch
    target = batch["action"]
    observation = {k: v for k, v in batch.items()
                   if k not in ("action", "action_weight", "optimality")}
    mask = (batch["action_weight"] > 0).to(target.dtype)[..., None] if "action_weight" in \
        batch else torch.ones_like(target[..., :1])
    generator = torch.Generator().manual_seed(seed)
    first, second = (torch.randn(target.shape, generator=generator) for _ in range(2))

    def rms(difference):
        return float(((difference.square() * mask).sum() /
                      (mask.sum() * target.shape[-1]).clamp_min(1)).sqrt())

    high = model.sample(observation, optimality=1.0, noise=first)
    low = model.sample(observation, optimality=0.0, noise=first)
    high_again = model.sample(observation, optimality=1.0, noise=second)
    return dict(shift=rms(high - low), spread=rms(high - high_again),
                error_s1=rms(high - target), error_s0=rms(low - target))


def task_sensitivity(pipeline: Path, samples_per_group: int, seed: int,
                     checkpoint: Path | None = None) -> dict:
    """checkpoint: the DexPIE policy scored (default: the run's last round)."""
    import torch
    from dexpie_learning.datasets import to_episode_arrays
    from dexpie_learning.labels.store import load_labels
    from dexpie_learning.train import methods
    from dexpie_policy.checkpoint import load_policy
    from dexpie_policy.chunk_dataset import ChunkDataset, make_training_batch
    from label_variants import last_round_data   # benchmarks/ is on sys.path when run
    config, data = last_round_data(pipeline)
    last = pipeline / f"r{config.rounds}"
    labels = load_labels(last / "labels", "dexpie", [e.episode_id for e in data.episodes])
    train_config = config.train_config("policy")
    _, optimality = methods.method_weights("policy", train_config, data, labels)
    model, stats, spec = load_policy(checkpoint or last / "policy" / "policy")
    # Scoring, not training: every sample is asked for the condition the column names.
    model.config = dataclasses.replace(model.config, optimality_dropout=0.0)
    hg_model, hg_stats, _ = load_policy(last / "hg-dagger" / "policy")
    dataset = ChunkDataset([to_episode_arrays(e, train_config.use_object_state,
                                              train_config.cameras, s)
                            for e, s in zip(data.episodes, optimality)], spec,
                           train_config.horizon)
    human_window = np.concatenate([labels.episodes[e.episode_id].human_window
                                   for e in data.episodes])
    if len(human_window) != len(dataset):
        raise ValueError(f"{len(dataset)} samples but {len(human_window)} labelled ticks")
    rng = np.random.default_rng(seed)
    out = {}
    for group, indices in sample_groups(human_window, dataset.optimality).items():
        if not len(indices):
            continue
        chosen = rng.choice(indices, min(samples_per_group, len(indices)), replace=False)
        batch = make_training_batch(dataset, chosen, stats)
        own = batch.pop("optimality")
        asked = {"own": own, "s=1": torch.ones_like(own), "s=0": torch.zeros_like(own),
                 "null": torch.full_like(own, float("nan"))}
        row = {name: flow_loss(model.eval(), batch, asked[name], seed) for name in CONDITIONS}
        hg_batch = make_training_batch(dataset, chosen, hg_stats)
        hg_batch.pop("optimality")
        row["hg-dagger"] = flow_loss(hg_model.eval(), hg_batch, None, seed)
        out[group] = dict(samples=len(chosen), mean_s=float(own.mean()), loss=row,
                          actions=action_shift(model.eval(), batch, seed))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True,
                        help="a finished main-job output folder (seed 0 is used)")
    parser.add_argument("--tasks", nargs="+", default=["relocate", "hammer", "door"])
    parser.add_argument("--samples", type=int, default=2048, help="per group")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None,
                        help="DexPIE checkpoint folder to score instead of the run's last "
                             "round, '{task}' replaced by the task (trained on the same data); the "
                             "HG-DAgger column stays the run's own checkpoint")
    parser.add_argument("--out", type=Path, default=RESULTS / "condition_sensitivity.json")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    results = {}
    print(f"{'task':9s} {'group':18s} {'n':>5s} " + " ".join(f"{c:>7s}" for c in CONDITIONS)
          + "  HG-DAgger | actions: shift  spread  error s=1  error s=0")
    for task in args.tasks:
        pipeline = args.run / task / "seed0" / "dexpie"
        if not (pipeline / "pipeline.json").exists():
            parser.error(f"{args.run} has no finished pipeline for {task} (seed 0)")
        checkpoint = None if args.checkpoint is None else Path(args.checkpoint.format(task=task))
        results[task] = task_sensitivity(pipeline, args.samples, args.seed, checkpoint)
        for group, row in results[task].items():
            print(f"{task:9s} {group:18s} {row['samples']:>5d} "
                  + " ".join(f"{row['loss'][c]:7.4f}" for c in CONDITIONS)
                  + f"  {row['loss']['hg-dagger']:9.4f} | "
                  + " ".join(f"{row['actions'][k]:7.4f}"
                             for k in ("shift", "spread", "error_s1", "error_s0")), flush=True)
    write_json(args.out, dict(run=str(args.run), checkpoint=args.checkpoint,
                              samples_per_group=args.samples,
                              seed=args.seed, tasks=results))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
