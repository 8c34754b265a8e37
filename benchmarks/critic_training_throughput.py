"""Critic training throughput on this CPU, in training samples (steps of episodes) per second.

Default critic size (CriticConfig defaults: hidden 256, 3 layers, K = 201 bins), batch 256,
each twin task's observation (joint positions + object state), AdamW steps exactly as in
`train_critic` (batch gathering, target smoothing, forward, backward, update). Variants:
all torch threads and 1 thread; and, with --camera, one 64x64 camera through the policy's
CNN (1 thread). Data are random (throughput does not depend on the values); the first
--warmup steps are not timed. A cross-fitted pair of S steps costs 2 * S * batch / throughput.

    .venv/bin/python benchmarks/critic_training_throughput.py [--steps 200] [--camera]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from dexpie_learning.critic import CriticConfig, CriticEpisode, ReturnConfig, return_targets
from dexpie_learning.critic.modeling_critic import DistributionalCritic
from dexpie_learning.critic.training import CriticSamples
from dexpie_sim.registry import TASK_NAMES, task_spec

BATCH_SIZE = 256


def synthetic_episodes(task: str, camera: bool, count: int = 8) -> tuple[list, CriticConfig]:
    spec = task_spec(task)
    rng = np.random.default_rng(0)
    steps = spec.max_episode_steps
    returns = ReturnConfig(steps)
    episodes = []
    for i in range(count):
        images = {"front": rng.integers(0, 255, (steps, 64, 64, 3), dtype=np.uint8)} if camera \
            else {}
        episodes.append(CriticEpisode(
            episode_id=f"e{i}", stage="init", success=bool(i % 2),
            joint_positions=rng.normal(size=(steps, len(spec.joint_names))),
            object_state=rng.normal(size=(steps, len(spec.object_names))), images=images,
            return_target=return_targets(steps, bool(i % 2), returns),
            intervention=np.zeros(steps, dtype=bool)))
    config = CriticConfig(state_dim=len(spec.joint_names), object_dim=len(spec.object_names),
                          camera_names=("front",) if camera else (), image_size=(64, 64))
    return episodes, config


def measure(task: str, camera: bool, threads: int, steps: int, warmup: int) -> dict:
    """Same loop body as train_critic, timed after `warmup` steps."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        episodes, config = synthetic_episodes(task, camera)
        samples = CriticSamples(episodes, config)
        torch.manual_seed(0)
        critic = DistributionalCritic(config, samples.stats()).train()
        optimizer = torch.optim.AdamW(critic.parameters(), lr=3e-4, weight_decay=1e-4)
        rng = np.random.default_rng(0)
        for step in range(warmup + steps):
            if step == warmup:
                start = time.perf_counter()
            observation, target = samples.batch(rng.integers(0, len(samples), BATCH_SIZE))
            loss = critic.compute_loss(observation, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(critic.parameters(), 1.0)
            optimizer.step()
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(previous)
    return dict(task=task, camera="front 64x64" if camera else "none", torch_threads=threads,
                state_dim=config.state_dim, object_dim=config.object_dim,
                parameters=sum(p.numel() for p in critic.parameters()), batch_size=BATCH_SIZE,
                timed_steps=steps, seconds=elapsed, steps_per_s=steps / elapsed,
                samples_per_s=steps * BATCH_SIZE / elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--camera", action="store_true", help="also time a one-camera critic")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/critic_training_throughput.json"))
    args = parser.parse_args()
    load_before = os.getloadavg()
    all_threads = torch.get_num_threads()
    rows = []
    for task in TASK_NAMES:
        for threads in sorted({all_threads, 1}, reverse=True):
            rows.append(measure(task, False, threads, args.steps, args.warmup))
    if args.camera:
        # One thread: on the shared machine it was the faster setting for every variant.
        rows.append(measure(TASK_NAMES[0], True, 1, max(args.steps // 4, 10), args.warmup))
    load_after = os.getloadavg()
    print(f"critic training on CPU ({os.cpu_count()} cores), default size, batch {BATCH_SIZE}; "
          f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          "(the machine is shared: figures are lower bounds)")
    header = (f"{'task':<10} {'camera':<12} {'threads':>7} {'params':>8} {'steps/s':>8} "
              f"{'samples/s':>10}")
    print(header + "\n" + "-" * len(header))
    for r in rows:
        print(f"{r['task']:<10} {r['camera']:<12} {r['torch_threads']:>7} {r['parameters']:>8} "
              f"{r['steps_per_s']:>8.1f} {r['samples_per_s']:>10.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "critic_training_throughput", "cpu_count": os.cpu_count(),
        "load_average_before": list(load_before), "load_average_after": list(load_after),
        "note": "measured while other jobs (a long benchmark, other engineers' tests) were "
                "running on the same 2 cores; throughput is a lower bound for an idle machine",
        "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
