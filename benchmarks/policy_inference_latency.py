"""Inference latency of one chunk on this CPU, next to the 30 Hz control period (33.3 ms):
the sampler before the inference rewrite and the current ones, side by side in one run.

Default policy size (FlowPolicyConfig defaults, BC hidden size: 4.2-4.5 M parameters), each
twin task's dimensions, 1 torch thread (the PolicyRunner default), a committed prefix of 4
actions. Variants: BC (no guidance) and an indicator-conditioned policy with classifier-free
guidance w = 1.5 (both branches in one batched pass per flow step). Weights are random:
latency does not depend on their values.

Implementations, all PolicyRunner.predict_chunk on the same model, weights and inputs:
- "previous": the model's sampler replaced by `dexpie_policy.flow.reference.reference_sample`
  (the sampler before the rewrite, kept for this and for the equivalence tests);
- "torch": the current sampler with linear_backend "torch" (chunks bit-identical to previous,
  checked on every call);
- "numpy": linear_backend "numpy" (FiLM and the Euler loop in numpy, flow.numpy_sampler);
- "current": the runner as constructed by default (linear_backend "auto": "onnxruntime" on a
  CPU where onnx and onnxruntime are installed, flow.onnx_sampler).
numpy's and current's chunks are checked to be within 1e-5 of previous on every call, and
the largest difference is printed. Calls rotate through the implementations, so all see the
same load on a shared machine. Per cell: wall-clock p50/p99/max, and p50/p99 of this
thread's CPU time (the cost without the waits for a core that other processes cause);
ratio = previous / current. --runs repeats the whole measurement.

    .venv/bin/python benchmarks/policy_inference_latency.py [--calls 300] [--runs 1]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from dexpie_learning.train.bc import BCConfig
from dexpie_policy.actions.spec import twin_action_spec
from dexpie_policy.flow import FlowMatchingPolicy, FlowPolicyConfig
from dexpie_policy.flow.reference import reference_sample
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


TOLERANCE = 1e-5   # on the absolute targets, between "current" and "previous"
TARGET_P99_MS = 5.0   # the target for policy inference with guidance


def reference_runner(runner: PolicyRunner) -> PolicyRunner:
    """The same runner (model, weights, statistics) whose sampler is the previous one."""
    previous = copy.copy(runner)
    previous.model = copy.copy(runner.model)     # shares the parameters

    def sample(*args, linear_backend, **kwargs):
        return reference_sample(runner.model, *args, **kwargs)
    previous.model.sample = sample
    return previous


def backend_runner(runner: PolicyRunner, linear_backend: str) -> PolicyRunner:
    same = copy.copy(runner)
    same.linear_backend = linear_backend
    return same


def measure(runner: PolicyRunner, task: str, calls: int, cfg_scale: float) -> dict:
    """Interleaved calls of the previous and the current implementation -> per implementation
    wall and CPU times (ms) of each call."""
    spec_t = task_spec(task)
    rng = np.random.default_rng(1)
    q = rng.normal(0, 0.1, len(spec_t.joint_names))
    obj = rng.normal(0, 0.1, len(spec_t.object_names))
    prefix = q + rng.normal(0, 0.01, (4, len(q)))
    kwargs = {"cfg_scale": cfg_scale} if runner.config.optimality_conditioning else {}
    implementations = {"previous": reference_runner(runner),
                       "torch": backend_runner(runner, "torch"),
                       "numpy": backend_runner(runner, "numpy"), "current": runner}
    for _ in range(20):  # warm-up
        for impl in implementations.values():
            impl.predict_chunk(q, object_state=obj, prefix_targets=prefix, **kwargs)
    times = {name: {"wall": np.empty(calls), "cpu": np.empty(calls)} for name in implementations}
    max_diff = 0.0
    for i in range(calls):
        chunks = {}
        for name, impl in implementations.items():
            generator = torch.Generator().manual_seed(i)
            wall, cpu = time.perf_counter(), time.thread_time()
            chunks[name] = impl.predict_chunk(q, object_state=obj, prefix_targets=prefix,
                                              generator=generator, **kwargs)
            times[name]["cpu"][i] = (time.thread_time() - cpu) * 1000.0
            times[name]["wall"][i] = (time.perf_counter() - wall) * 1000.0
        if not np.array_equal(chunks["torch"], chunks["previous"]):
            raise AssertionError(f"{task}: linear_backend torch is not bit-identical at call {i}")
        max_diff = max(max_diff, *(float(np.abs(chunks[name] - chunks["previous"]).max())
                                   for name in ("numpy", "current")))
        if max_diff > TOLERANCE:
            raise AssertionError(f"{task}: current differs from previous by {max_diff} at call {i}")
    return times, max_diff


def summary(times: dict) -> dict:
    wall, cpu = times["wall"], times["cpu"]
    return dict(p50_ms=float(np.percentile(wall, 50)), p99_ms=float(np.percentile(wall, 99)),
                max_ms=float(wall.max()), cpu_p50_ms=float(np.percentile(cpu, 50)),
                cpu_p99_ms=float(np.percentile(cpu, 99)))


def measure_all(calls: int) -> list[dict]:
    rows = []
    for task in TASK_NAMES:
        for label, conditioned, cfg_scale in (("BC", False, 1.0), ("indicator + CFG w=1.5", True, 1.5)):
            runner = make_runner(task, conditioned)
            times, max_diff = measure(runner, task, calls, cfg_scale)
            row = dict(task=task, variant=label, calls=calls,
                       parameters=sum(p.numel() for p in runner.model.parameters()),
                       linear_backend=runner.linear_backend,
                       max_abs_diff_current_vs_previous=max_diff,
                       **{name: summary(t) for name, t in times.items()},
                       control_period_ms=CONTROL_PERIOD_MS)
            row["ratio"] = {key: row["previous"][key] / row["current"][key] for key in row["current"]}
            rows.append(row)
    return rows


def print_run(rows: list[dict], calls: int, load_before: str, load: str) -> None:
    print(f"chunk inference on CPU, 1 torch thread, {calls} calls each, implementations "
          f"rotating; load average {load_before} before, {load} after ({os.cpu_count()} cores)")
    print(f"current = PolicyRunner default (linear_backend {rows[0]['linear_backend']!r}); torch = "
          "current sampler, linear_backend 'torch'; ratio = previous / current")
    print("wall-clock ms (CPU time of the thread in the last two columns)")
    header = (f"{'task':<9} {'variant':<22} {'impl':<9} {'p50':>6} {'p99':>6} {'max':>6} "
              f"{'p99/33.3':>8} {'cpu p50':>7} {'cpu p99':>7}")
    print(header + "\n" + "-" * len(header))
    for r in rows:
        for name in ("previous", "torch", "numpy", "current"):
            m = r[name]
            print(f"{r['task']:<9} {r['variant']:<22} {name:<9} {m['p50_ms']:>6.2f} {m['p99_ms']:>6.2f} "
                  f"{m['max_ms']:>6.2f} {m['p99_ms'] / CONTROL_PERIOD_MS:>8.2f} {m['cpu_p50_ms']:>7.2f} "
                  f"{m['cpu_p99_ms']:>7.2f}")
        q = r["ratio"]
        print(f"{r['task']:<9} {r['variant']:<22} {'ratio':<9} {q['p50_ms']:>6.2f} {q['p99_ms']:>6.2f} "
              f"{q['max_ms']:>6.2f} {'':>8} {q['cpu_p50_ms']:>7.2f} {q['cpu_p99_ms']:>7.2f}")
    print(f"largest |current - previous|, |numpy - previous| over all chunks: "
          f"{max(r['max_abs_diff_current_vs_previous'] for r in rows):.2e} (tolerance {TOLERANCE:g}); "
          "torch == previous bit for bit on every call")


def target_line(rows: list[dict]) -> str:
    guided = [r for r in rows if r["variant"] != "BC"]
    return (f"guided p99 <= {TARGET_P99_MS:g} ms on one thread: current p99 "
            + ", ".join(f"{r['task']} {r['current']['p99_ms']:.2f} ms" for r in guided)
            + f" -> met in {sum(r['current']['p99_ms'] <= TARGET_P99_MS for r in guided)} of "
            f"{len(guided)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1,
                        help="repeat the whole measurement (the machine's load varies)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/policy_inference_latency.json"))
    args = parser.parse_args()
    runs = []
    for run in range(args.runs):
        load_before = open("/proc/loadavg").read().split()[0] if Path("/proc/loadavg").exists() else "?"
        rows = measure_all(args.calls)
        load = open("/proc/loadavg").read().split()[0] if Path("/proc/loadavg").exists() else "?"
        print(f"\nrun {run + 1}/{args.runs}")
        print_run(rows, args.calls, load_before, load)
        print(f"target: {target_line(rows)}")
        runs.append({"load_average_before": load_before, "load_average": load, "rows": rows})
    if args.runs > 1:
        print("\nall runs:")
        for run, result in enumerate(runs):
            print(f"  run {run + 1} (load {result['load_average_before']}): "
                  f"{target_line(result['rows'])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "policy_inference_latency", "tolerance": TOLERANCE,
                                    "cpu_count": os.cpu_count(), "torch": torch.__version__,
                                    # the first run's, where older readers look
                                    "load_average_before": runs[0]["load_average_before"],
                                    "load_average": runs[0]["load_average"],
                                    "rows": runs[0]["rows"], "runs": runs}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
