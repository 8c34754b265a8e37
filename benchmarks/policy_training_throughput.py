"""Policy training throughput on this CPU (samples/s), default size, BC and indicator-conditioned.

The training loop of `train` (`loop.train_resumable`: batch construction from the
ChunkDataset, flow-matching loss with training-time RTC, AdamW, gradient clipping) at the
default PolicyTrainConfig (hidden 512, 3 blocks, H = 16, batch 256) with the relocate task's
dimensions (30 joints, object state). Data: synthetic episodes (throughput does not depend
on the values). Conditioned = the DexPIE policy (continuous indicator, p_drop = 0.3) with
per-sample weights present. The resumable state is written once, at the end.

    .venv/bin/python benchmarks/policy_training_throughput.py [--steps 40] [--threads N]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dexpie_learning.train.config import PolicyTrainConfig
from dexpie_learning.train.loop import train_resumable
from dexpie_policy.actions.spec import twin_action_spec
from dexpie_policy.chunk_dataset import ChunkDataset, EpisodeArrays
from dexpie_sim.registry import task_spec


def synthetic_dataset(conditioned: bool, horizon: int, episodes: int = 20, steps: int = 150
                      ) -> ChunkDataset:
    spec_t = task_spec("relocate")
    spec = twin_action_spec(spec_t.arm_joints, spec_t.finger_joints)
    rng = np.random.default_rng(0)
    arrays = []
    for _ in range(episodes):
        q = np.cumsum(rng.normal(0, 0.01, (steps, spec.num_joints)), axis=0)
        arrays.append(EpisodeArrays(
            joint_positions=q, command=q + rng.normal(0, 0.01, q.shape),
            object_state=rng.normal(size=(steps, len(spec_t.object_names))),
            optimality=rng.uniform(0, 1, steps) if conditioned else None,
            sample_weight=rng.uniform(0.5, 2.0, steps) if conditioned else None))
    return ChunkDataset(arrays, spec, horizon)


def measure(conditioned: bool, steps: int, warmup: int) -> dict:
    config = dataclasses.replace(PolicyTrainConfig(), steps=steps, save_every=steps)
    dataset = synthetic_dataset(conditioned, config.horizon)
    policy_config = dataset.policy_config(
        optimality_conditioning=conditioned, hidden_size=config.hidden_size,
        num_layers=config.num_layers, max_delay_steps=config.max_delay_steps)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = train_resumable(dataset, policy_config, config, Path(tmp), {"bench": 1},
                                 resume="never", progress=False)
        wall = time.perf_counter() - start
    per_step = np.array([row["samples_per_s"] for row in result.metrics[warmup:]])
    parameters = sum(p.numel() for p in result.model.parameters())
    return dict(conditioned=conditioned, steps=steps, warmup_steps=warmup,
                batch_size=config.batch_size, parameters=parameters,
                samples_per_s_median=float(np.median(per_step)),
                samples_per_s_p10=float(np.percentile(per_step, 10)),
                samples_per_s_p90=float(np.percentile(per_step, 90)),
                wall_seconds_including_state_save=wall,
                samples_per_s_wall=steps * config.batch_size / wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", default="benchmarks/results/policy_training_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    rows = [measure(conditioned, args.steps, args.warmup) for conditioned in (False, True)]
    for row in rows:
        name = "indicator-conditioned" if row["conditioned"] else "BC"
        print(f"{name:>22}: {row['samples_per_s_median']:.0f} samples/s median per step "
              f"(p10 {row['samples_per_s_p10']:.0f}, p90 {row['samples_per_s_p90']:.0f}); "
              f"{row['samples_per_s_wall']:.0f} samples/s over the whole run; "
              f"{row['parameters'] / 1e6:.2f} M parameters")
    load_after = os.getloadavg()
    print(f"batch {rows[0]['batch_size']}, {args.threads} torch threads, load average "
          f"{load_before[0]:.2f} -> {load_after[0]:.2f} on {os.cpu_count()} cores")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(results=rows, threads=args.threads, cpu_count=os.cpu_count(),
                                   load_average_before=load_before,
                                   load_average_after=load_after), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
