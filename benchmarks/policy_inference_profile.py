"""Where one chunk's inference time goes: PolicyRunner.predict_chunk split into its stages,
for BC and for the indicator-conditioned policy with CFG w = 1.5, on 1 torch thread.

The policy is the one policy_inference_latency.py measures (FlowPolicyConfig defaults, BC
hidden size 512, 3 blocks: 4.5 M parameters; random weights: the time does not depend on
their values), relocate's dimensions, a committed prefix of 4 actions. Each chunk is run
stage by stage, calling the model's own methods in the order `sample` calls them, for:

- reference: `dexpie_policy.flow.reference.reference_sample`, the sampler before the
  inference rewrite (embeddings recomputed per call, nn.Module calls in the Euler loop);
- numpy: `FlowMatchingPolicy.sample` with linear_backend "numpy" (FiLM and the Euler loop
  in numpy, `flow.numpy_sampler`, the products through OpenBLAS held to 1 thread);
- onnxruntime: linear_backend "onnxruntime", the runner's default on a CPU (FiLM and the
  Euler loop as one ONNX graph, `flow.onnx_sampler`; its stage "Euler loop" includes FiLM).

Per stage: CPU time of this thread (what the work costs; steady when other processes share
the cores) and wall time (that plus waiting for a core). Three more views of the cause:

- op counts: aten ops per chunk, from torch.profiler (linear layers and all others; the
  numpy sampler's ops are not aten ops);
- bookkeeping vs arithmetic: the same chunk with hidden_size = 16 (the same ops, next to no
  arithmetic) gives the per-op cost (Python, dispatch, allocation, small numpy work);
  the rest of the hidden-512 time is the arithmetic, mostly streaming the weights;
- the Euler loop's linear layers alone (10 steps x 8 layers, 8.3 MB of float32 weights per
  step, more than the 2 MB L2 cache) on 1 row (BC), 2 rows (CFG's two branches) and 4 rows,
  through torch (MKL) and numpy (OpenBLAS, held to 1 thread by the PolicyRunners built
  before; CPU time of the whole process next to this thread's shows any BLAS threads).

    .venv/bin/python benchmarks/policy_inference_profile.py [--chunks 200]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from dexpie_learning.train.bc import BCConfig
from dexpie_policy.actions import reanchor, to_absolute
from dexpie_policy.flow import ACTION_KEY, OBJECT_KEY, STATE_KEY, numpy_sampler
from dexpie_policy.runner import PolicyRunner
from dexpie_sim.registry import task_spec

from policy_inference_latency import make_runner

TASK = "relocate"
DELAY = 4
VARIANTS = (("BC", False, 1.0), ("indicator + CFG w=1.5", True, 1.5))
IMPLEMENTATIONS = ("reference", "numpy", "onnxruntime")


class Clock:
    """Per-stage thread CPU time and wall time, in ms."""

    def __init__(self):
        self.cpu: dict[str, list[float]] = {}
        self.wall: dict[str, list[float]] = {}

    def stage(self, name, fn):
        wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
        out = fn()
        self.cpu.setdefault(name, []).append((time.thread_time_ns() - cpu) / 1e6)
        self.wall.setdefault(name, []).append((time.perf_counter_ns() - wall) / 1e6)
        return out


def inputs(runner: PolicyRunner):
    spec_t = task_spec(TASK)
    rng = np.random.default_rng(1)
    q = rng.normal(0, 0.1, len(spec_t.joint_names))
    obj = rng.normal(0, 0.1, len(spec_t.object_names))
    return q, obj, q + rng.normal(0, 0.01, (DELAY, len(q)))


@torch.inference_mode()
def staged_chunk(runner: PolicyRunner, clock: Clock, implementation: str, cfg_scale: float,
                 q, obj, prefix_targets) -> np.ndarray:
    """predict_chunk, stage by stage (the same calls predict_chunk and sample make)."""
    m, c, stats = runner.model, runner.config, runner.stats
    optimality = 1.0 if c.optimality_conditioning else None
    guided = optimality is not None and cfg_scale != 1.0

    def runner_in():
        anchor = runner._vector("joint_positions", q, c.state_dim)
        observation = {STATE_KEY: runner._tensor(stats.normalize(STATE_KEY, anchor)),
                       OBJECT_KEY: runner._tensor(stats.normalize(
                           OBJECT_KEY, runner._vector("object_state", obj, c.object_dim)))}
        relative = reanchor(np.asarray(prefix_targets, dtype=np.float64), anchor, runner.spec)
        return anchor, observation, relative, runner._tensor(stats.normalize(ACTION_KEY, relative))

    anchor, observation, relative, prefix = clock.stage("runner: inputs (numpy, to torch)",
                                                        runner_in)
    condition = clock.stage("observation encoder", lambda: m.encode_observation(observation))
    noise = clock.stage("noise", lambda: torch.randn((1, c.horizon, c.action_dim)))
    if implementation == "reference":
        def film():
            f = m.film_parameters(condition, m.optimality_condition(
                None if optimality is None else torch.full((1,), optimality), 1))
            if guided:
                f = torch.cat([f, m.film_parameters(condition, m.optimality_condition(None, 1))])
            return f

        def grid():
            dt = 1.0 / c.num_inference_steps
            times = torch.arange(c.num_inference_steps, dtype=condition.dtype) * dt
            known = (torch.arange(c.horizon) < DELAY)[None]
            return m.time_features(times), torch.where(known, torch.ones(()), times[:, None])

        def loop():
            rows, dt, x = 2 if guided else 1, 1.0 / c.num_inference_steps, noise.clone()
            for step in range(c.num_inference_steps):
                x[:, :DELAY] = prefix
                step_time = step_times[step].expand(rows, -1)
                features = time_features[step].expand(rows, -1)
                if guided:
                    v_cond, v_uncond = m.velocity(torch.cat([x, x]), step_time, features,
                                                  film).chunk(2)
                    v = v_uncond + cfg_scale * (v_cond - v_uncond)
                else:
                    v = m.velocity(x, step_time, features, film)
                x = x + dt * v
            x[:, :DELAY] = prefix
            return x
    elif implementation == "numpy":   # FlowMatchingPolicy._sample_one, stage by stage
        dtype, device = condition.dtype, condition.device

        def grid():   # the kept values' check (once per chunk) and the numpy step grid
            cache = m._inference_cache(dtype, device)
            return cache, m._numpy_weights(cache, DELAY, dtype, device)

        def film():
            branches = [optimality, None] if guided else [optimality]
            conditions = torch.cat([condition if extra is None else condition + extra
                                    for extra in (m._cached_optimality_condition(
                                        cache, branch, 1, dtype, device) for branch in branches)])
            return numpy_sampler.film_rows(layers, conditions.numpy(), c.num_layers)

        def loop():
            return torch.from_numpy(numpy_sampler.integrate(
                layers, numpy_grid, noise[0].numpy(), prefix[0].numpy(), *film_rows,
                cfg_scale if guided else None))[None]

        cache, (layers, numpy_grid) = clock.stage("kept values: check, step grid", grid)
        film_rows = clock.stage("optimality condition + FiLM", film)
        x = clock.stage("Euler loop (10 steps)", loop)
    else:   # "onnxruntime": FlowMatchingPolicy._sample_one, stage by stage
        dtype, device = condition.dtype, condition.device

        def grid():   # the kept values' check (once per chunk), the session, the step bias
            cache = m._inference_cache(dtype, device)
            return cache, m._onnx_sampler(cache, DELAY, guided, dtype, device)

        def conditions():
            branches = [optimality, None] if guided else [optimality]
            return torch.cat([condition if extra is None else condition + extra
                              for extra in (m._cached_optimality_condition(
                                  cache, branch, 1, dtype, device) for branch in branches)]).numpy()

        def loop():
            chunk = noise.reshape(1, -1).numpy().copy()
            chunk[:, :DELAY * c.action_dim] = prefix.reshape(1, -1).numpy()
            out = torch.from_numpy(sampler(rows, chunk, step_bias, generated,
                                           cfg_scale if guided else None)).view_as(noise)
            out[:, :DELAY] = prefix
            return out

        cache, (sampler, step_bias, generated) = clock.stage("kept values: check, step grid",
                                                             grid)
        rows = clock.stage("optimality condition + FiLM", conditions)
        x = clock.stage("Euler loop (10 steps)", loop)
    if implementation == "reference":
        film = clock.stage("optimality condition + FiLM", film)
        time_features, step_times = clock.stage("time features of the step grid", grid)
        x = clock.stage("Euler loop (10 steps)", loop)

    def runner_out():
        actions = stats.unnormalize(ACTION_KEY, x[0].cpu().numpy().astype(np.float64))
        actions[:DELAY] = relative
        targets = to_absolute(actions, anchor, runner.spec)
        targets[:DELAY] = prefix_targets
        return targets

    return clock.stage("runner: outputs (to numpy, absolute)", runner_out)


def op_counts(runner: PolicyRunner, implementation: str, cfg_scale: float, args) -> dict:
    """Top-level aten ops of one chunk (an op's callees, e.g. linear -> addmm, not counted)
    and its torch linear layers (the numpy sampler's products are not aten ops)."""
    from torch.profiler import ProfilerActivity, profile
    clock = Clock()
    staged_chunk(runner, clock, implementation, cfg_scale, *args)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        staged_chunk(runner, clock, implementation, cfg_scale, *args)
    events = [e for e in prof.events() if e.name.startswith("aten::")]
    ids = {id(e) for e in events}
    top = [e for e in events if e.cpu_parent is None or id(e.cpu_parent) not in ids]
    linear = sum(e.name in ("aten::linear", "aten::addmm", "aten::matmul") for e in top)
    return {"aten_ops": len(top), "torch_linear_ops": linear}


def profile_variant(label: str, conditioned: bool, cfg_scale: float, chunks: int,
                    hidden_size: int) -> dict:
    default_hidden = BCConfig.hidden_size   # make_runner builds the BC hidden size
    try:
        BCConfig.hidden_size = hidden_size
        runner = make_runner(TASK, conditioned)
    finally:
        BCConfig.hidden_size = default_hidden
    args = inputs(runner)
    clocks = {name: Clock() for name in IMPLEMENTATIONS}
    for _ in range(10):   # warm-up (and the current sampler's cache)
        for name, clock in clocks.items():
            staged_chunk(runner, Clock(), name, cfg_scale, *args)
    for _ in range(chunks):   # interleaved: both see the same load
        for name, clock in clocks.items():
            wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
            staged_chunk(runner, clock, name, cfg_scale, *args)
            clock.cpu.setdefault("total", []).append((time.thread_time_ns() - cpu) / 1e6)
            clock.wall.setdefault("total", []).append((time.perf_counter_ns() - wall) / 1e6)
    out = {"variant": label, "hidden_size": hidden_size,
           "parameters": sum(p.numel() for p in runner.model.parameters())}
    for name, clock in clocks.items():
        out[name] = {"stages_cpu_ms_p50": {k: float(np.median(v)) for k, v in clock.cpu.items()},
                     "stages_wall_ms_p50": {k: float(np.median(v)) for k, v in clock.wall.items()},
                     **op_counts(runner, name, cfg_scale, args)}
    return out


def loop_linears(rows: int, repeats: int) -> list[dict]:
    """The Euler loop's linear layers alone: 10 steps x (input, 6 block, output) layers on
    `rows` rows, through torch (MKL here) and through numpy's BLAS (OpenBLAS in the numpy
    wheels). Process CPU time > thread CPU time means the BLAS ran threads of its own."""
    shapes = [(512, 496)] + [(512, 512)] * 6 + [(480, 512)]
    weights = [(torch.randn(o, i) * 0.05, torch.zeros(o)) for o, i in shapes]
    arrays = [(w.numpy(), b.numpy()) for w, b in weights]

    def run_torch():
        for _ in range(10):
            h = torch.ones(rows, 496)
            for w, b in weights:
                h = F.linear(h[:, :w.shape[1]], w, b)

    def run_numpy():
        for _ in range(10):
            h = np.ones((rows, 496), dtype=np.float32)
            for w, b in arrays:
                h = h[:, :w.shape[1]] @ w.T + b

    out = []
    with torch.inference_mode():
        for name, run in (("torch", run_torch), ("numpy", run_numpy)):
            for _ in range(5):
                run()
            thread, process = [], []
            for _ in range(repeats):
                start_thread, start_process = time.thread_time_ns(), time.process_time_ns()
                run()
                thread.append((time.thread_time_ns() - start_thread) / 1e6)
                process.append((time.process_time_ns() - start_process) / 1e6)
            megabytes = sum(w.numel() + b.numel() for w, b in weights) * 4 / 1e6
            out.append({"rows": rows, "library": name, "weights_mb_per_step": megabytes,
                        "thread_cpu_ms_p50": float(np.median(thread)),
                        "process_cpu_ms_p50": float(np.median(process))})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/policy_inference_profile.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = open("/proc/loadavg").read().split()[0]
    rows = [profile_variant(label, conditioned, cfg_scale, args.chunks, hidden)
            for hidden in (BCConfig.hidden_size, 16) for label, conditioned, cfg_scale in VARIANTS]
    linears = [item for r in (1, 2, 4) for item in loop_linears(r, args.chunks // 2)]
    load_after = open("/proc/loadavg").read().split()[0]

    from threadpoolctl import threadpool_info
    blas_threads = {i["internal_api"]: i["num_threads"] for i in threadpool_info()
                    if i["user_api"] == "blas"}
    print(f"PolicyRunner default: linear_backend {make_runner(TASK, False).linear_backend!r}; numpy's BLAS "
          f"threads {blas_threads}")
    print(f"one chunk on 1 torch thread, {TASK}, prefix {DELAY}, {args.chunks} interleaved chunks "
          f"per implementation; load average {load_before} before, {load_after} after")
    print("p50 ms per stage: CPU time of this thread (wall time in brackets)")
    for row in rows:
        print(f"\n{row['variant']}, hidden {row['hidden_size']} ({row['parameters'] / 1e6:.2f} M "
              f"parameters)")
        print(f"  {'stage':<40}" + "".join(f"{name:>17}" for name in IMPLEMENTATIONS))
        stages = dict.fromkeys(stage for name in IMPLEMENTATIONS
                               for stage in row[name]["stages_cpu_ms_p50"])
        stages["total"] = stages.pop("total")
        for stage in stages:
            cells = [f"{row[n]['stages_cpu_ms_p50'][stage]:6.3f} "
                     f"({row[n]['stages_wall_ms_p50'][stage]:6.3f})"
                     if stage in row[n]["stages_cpu_ms_p50"] else "-"
                     for n in IMPLEMENTATIONS]
            print(f"  {stage:<40}" + "".join(f"{cell:>17}" for cell in cells))
        for key in ("aten_ops", "torch_linear_ops"):
            print(f"  {key.replace('_', ' ') + ' per chunk':<40}"
                  + "".join(f"{row[n][key]:>17}" for n in IMPLEMENTATIONS))
    print("\nThe Euler loop's linear layers alone (10 steps x 8 layers, "
          f"{linears[0]['weights_mb_per_step']:.1f} MB of weights per step), CPU ms p50, "
          "this thread (whole process):")
    for item in linears:
        print(f"  {item['rows']} row(s), {item['library']:<5}: {item['thread_cpu_ms_p50']:5.2f} "
              f"({item['process_cpu_ms_p50']:5.2f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "policy_inference_profile", "task": TASK,
                                    "prefix": DELAY, "chunks": args.chunks,
                                    "load_average_before": load_before,
                                    "load_average_after": load_after, "variants": rows,
                                    "loop_linears": linears}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
