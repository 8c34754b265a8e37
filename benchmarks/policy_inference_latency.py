"""Inference latency of one chunk on this CPU, next to the 30 Hz control period (33.3 ms).

Default policy size (FlowPolicyConfig defaults, BC hidden size), each twin task's
dimensions, 1 torch thread (the PolicyRunner default), a committed prefix of 4 actions.
Variants side by side in one run: BC (no guidance) and an indicator-conditioned policy with
classifier-free guidance w = 1.5 (two network passes per flow step). Weights are random:
latency does not depend on their values.

    .venv/bin/python benchmarks/policy_inference_latency.py [--calls 300]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from dexpie_learning.train.bc import BCConfig
from dexpie_policy.actions.spec import twin_action_spec
from dexpie_policy.flow import FlowMatchingPolicy, FlowPolicyConfig
from dexpie_policy.normalization import NormalizationStats
from dexpie_policy.runner import PolicyRunner
from dexpie_sim.registry import TASK_NAMES, task_spec

CONTROL_PERIOD_MS = 1000.0 / 30.0


def make_runner(task: str, conditioned: bool) -> PolicyRunner:
    spec_t = task_spec(task)
    spec = twin_action_spec(spec_t.arm_joints, spec_t.finger_joints)
    config = FlowPolicyConfig(action_dim=spec.action_dim, state_dim=spec.num_joints,
                              object_dim=len(spec_t.object_names), hidden_size=BCConfig.hidden_size,
                              num_layers=BCConfig.num_layers, optimality_conditioning=conditioned)
    rng = np.random.default_rng(0)
    stats = NormalizationStats.from_data({k: rng.normal(size=(100, *shape)) for k, shape in config.feature_shapes().items()})
    torch.manual_seed(0)
    return PolicyRunner(FlowMatchingPolicy(config).eval(), stats, spec)


def measure(runner: PolicyRunner, task: str, calls: int, cfg_scale: float) -> np.ndarray:
    spec_t = task_spec(task)
    rng = np.random.default_rng(1)
    q = rng.normal(0, 0.1, len(spec_t.joint_names))
    obj = rng.normal(0, 0.1, len(spec_t.object_names))
    prefix = q + rng.normal(0, 0.01, (4, len(q)))
    kwargs = {"cfg_scale": cfg_scale} if runner.config.optimality_conditioning else {}
    for _ in range(20):  # warm-up
        runner.predict_chunk(q, object_state=obj, prefix_targets=prefix, **kwargs)
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        runner.predict_chunk(q, object_state=obj, prefix_targets=prefix, **kwargs)
        times[i] = (time.perf_counter() - start) * 1000.0
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/policy_inference_latency.json"))
    args = parser.parse_args()
    rows = []
    for task in TASK_NAMES:
        for label, conditioned, cfg_scale in (("BC", False, 1.0), ("indicator + CFG w=1.5", True, 1.5)):
            times = measure(make_runner(task, conditioned), task, args.calls, cfg_scale)
            rows.append(dict(task=task, variant=label, calls=args.calls, p50_ms=float(np.percentile(times, 50)),
                             p99_ms=float(np.percentile(times, 99)), max_ms=float(times.max()),
                             control_period_ms=CONTROL_PERIOD_MS))
    load = open("/proc/loadavg").read().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"chunk inference on CPU, 1 torch thread, {args.calls} calls each; load average {load}")
    header = f"{'task':<10} {'variant':<22} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'p99 / 33.3 ms':>14}"
    print(header + "\n" + "-" * len(header))
    for r in rows:
        print(f"{r['task']:<10} {r['variant']:<22} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['max_ms']:>7.2f} "
              f"{r['p99_ms'] / CONTROL_PERIOD_MS:>14.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "policy_inference_latency", "load_average": load, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
