"""Chunk scheduler: control-loop timing under slow inference, and smoothness at chunk boundaries.

1. Timing (wall clock): a 30 Hz tick loop (precise sleep-until-deadline) drives the scheduler
   with a fake model whose inference takes 3 control periods (100 ms, sleeping in the worker
   thread), in async mode and sync mode, plus a reference loop that calls the model inline
   (what "stop and infer" looks like without a scheduler) and the bare loop (the machine's
   own jitter). Reports tick period p50/p99/max
   against the nominal 33.3 ms and the stalls (runs of ticks where the hand held because no
   action was available; start-up excluded).
2. Smoothness (simulated clock, seeded): a smooth expert trajectory plus a per-chunk random
   offset (chunk-to-chunk variation of a generative policy); the largest action step at chunk
   boundaries divided by the median within-chunk step, for async+prefix, naive_async and sync,
   over several seeds (mean and 95 % CI).

    .venv/bin/python benchmarks/scheduler_timing.py [--seconds 6] [--seeds 10]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from dexpie_policy.scheduler import (ChunkScheduler, Observation, UniformLatency,
                                     boundary_and_within_steps, hold_runs)
from dexpie_policy.scheduler.fake_predictors import SmoothExpertPredictor, sinusoid_trajectory

RATE_HZ = 30.0
PERIOD_S = 1.0 / RATE_HZ
NUM_JOINTS = 16
HORIZON = 16
SPIN_S = 0.002  # sleep until this close to the deadline, then spin: sub-ms tick jitter
# Two-sided 95 % Student t quantiles by degrees of freedom (no scipy in the environment).
T95 = {1: 12.71, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
       19: 2.093, 24: 2.064, 29: 2.045}


class SleepyPredictor:
    """Fake model: `latency_s` of 'inference' (sleep, GIL released like torch), then a chunk
    that slowly moves away from the anchor and continues the prefix if given."""

    def __init__(self, latency_s: float):
        self.latency_s = latency_s

    def predict_chunk(self, observation, prefix_targets):
        time.sleep(self.latency_s)
        chunk = observation.joint_positions + 0.001 * np.arange(1, HORIZON + 1)[:, None]
        if prefix_targets is not None:
            chunk[:len(prefix_targets)] = prefix_targets
        return chunk


def sleep_until(deadline: float) -> None:
    remaining = deadline - time.perf_counter()
    if remaining > SPIN_S:
        time.sleep(remaining - SPIN_S)
    while time.perf_counter() < deadline:
        time.sleep(0)  # spin, but let the GIL go: the inference worker must not wait on us


def tick_loop(step, seconds: float) -> tuple[np.ndarray, list[bool], list[str | None]]:
    """Call step(tick, q) -> (target, hold, hold_reason) at RATE_HZ for `seconds`.

    Returns tick start times (s), hold flags and hold reasons.
    """
    q = np.zeros(NUM_JOINTS)
    starts, holds, reasons = [], [], []
    deadline = time.perf_counter()
    for tick in range(int(round(seconds * RATE_HZ))):
        sleep_until(deadline)
        starts.append(time.perf_counter())
        q, hold, reason = step(tick, q)
        holds.append(hold)
        reasons.append(reason)
        deadline += PERIOD_S
        if time.perf_counter() > deadline + PERIOD_S:
            deadline = time.perf_counter()  # overran by a whole period: resync, do not burst
    return np.array(starts), holds, reasons


def timing_summary(name, starts, holds, reasons, extra=None) -> dict:
    periods_ms = np.diff(starts) * 1e3
    startup = next((i for i, r in enumerate(reasons) if r != "startup"), len(reasons))
    stalls = hold_runs(holds[startup:])
    return dict(mode=name, ticks=len(starts), nominal_ms=PERIOD_S * 1e3,
                period_p50_ms=float(np.percentile(periods_ms, 50)),
                period_p99_ms=float(np.percentile(periods_ms, 99)),
                period_max_ms=float(periods_ms.max()),
                startup_hold_ticks=startup, stall_count=len(stalls),
                stall_ticks=int(sum(stalls)),
                stall_mean_ms=float(np.mean(stalls) * PERIOD_S * 1e3) if stalls else 0.0,
                stall_max_ms=float(max(stalls) * PERIOD_S * 1e3) if stalls else 0.0,
                **(extra or {}))


def run_scheduler_timing(mode: str, seconds: float, latency_s: float) -> dict:
    with ChunkScheduler.threaded(SleepyPredictor(latency_s), mode=mode,
                                 request_threshold=5) as sched:
        def step(tick, q):
            out = sched.tick(Observation(joint_positions=q, tick=tick))
            return out.target, out.hold, out.hold_reason

        starts, holds, reasons = tick_loop(step, seconds)
        records = list(sched.chunk_log)
    delays = [r.delay_steps for r in records]
    return timing_summary(mode, starts, holds, reasons, dict(
        chunks=len(records), delay_steps_mean=float(np.mean(delays)),
        delay_steps_max=int(max(delays)),
        inference_latency_p50_ms=float(np.median([r.inference_latency for r in records]) * 1e3),
        errors=sched.error_count))


def run_blocking_reference(seconds: float, latency_s: float) -> dict:
    """Stop-infer-execute with the model called inside the loop: the loop itself stops."""
    predictor = SleepyPredictor(latency_s)
    queue = []

    def step(tick, q):
        if not queue:
            queue.extend(predictor.predict_chunk(Observation(q, tick=tick), None))
        return queue.pop(0), False, None

    starts, holds, reasons = tick_loop(step, seconds)
    summary = timing_summary("sync_inline (no scheduler)", starts, holds, reasons)
    # Here the loop itself stops: a stall is a tick period longer than 1.5 nominal periods
    # (the first period, the start-up inference, excluded like start-up holds above).
    periods = np.diff(starts)[1:]
    late = periods[periods > 1.5 * PERIOD_S] - PERIOD_S
    summary.update(stall_count=int(late.size), stall_ticks=int(np.round(late / PERIOD_S).sum()),
                   stall_mean_ms=float(late.mean() * 1e3) if late.size else 0.0,
                   stall_max_ms=float(late.max() * 1e3) if late.size else 0.0)
    return summary


def run_loop_only(seconds: float) -> dict:
    """The bare 30 Hz loop with no work: the machine's own timing jitter, for reference."""
    starts, holds, reasons = tick_loop(lambda tick, q: (q, False, None), seconds)
    return timing_summary("loop only (no model)", starts, holds, reasons)


def smoothness_run(mode: str, seed: int, ticks: int) -> dict:
    trajectory = sinusoid_trajectory(NUM_JOINTS, seed=seed)
    predictor = SmoothExpertPredictor(trajectory, horizon=HORIZON, offset_std=0.05,
                                      blend_steps=8, seed=seed + 1000)
    sched = ChunkScheduler.simulated(predictor, latency_ticks=UniformLatency(2, 4),
                                     seed=seed + 2000, mode=mode, request_threshold=4)
    q = trajectory(np.array([0]))[0]
    targets, chunk_ids, holds = [], [], []
    for tick in range(ticks):
        out = sched.tick(Observation(joint_positions=q, tick=tick))
        q = out.target  # perfect tracking
        targets.append(q)
        chunk_ids.append(out.chunk_id)
        holds.append(out.hold_reason == "starved")
    boundary, within = boundary_and_within_steps(np.array(targets), chunk_ids)
    median = float(np.median(within))
    return dict(ratio=float(boundary.max() / median), boundary_mean_ratio=float(
        boundary.mean() / median), hold_fraction=float(np.mean(holds)))


def mean_ci(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float(values.mean()), float("nan")
    df = values.size - 1
    t = T95.get(df, T95[max(k for k in T95 if k <= df)] if df < 30 else 1.96)
    return float(values.mean()), float(t * values.std(ddof=1) / np.sqrt(values.size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per timing run")
    parser.add_argument("--latency", type=float, default=0.1, help="fake inference time, s")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sim-ticks", type=int, default=600)
    parser.add_argument("--out", default="benchmarks/results/scheduler_timing.json")
    args = parser.parse_args()

    timing = [run_scheduler_timing("async", args.seconds, args.latency),
              run_scheduler_timing("sync", args.seconds, args.latency),
              run_blocking_reference(args.seconds, args.latency),
              run_loop_only(args.seconds)]
    load = os.getloadavg()[0]
    print(f"Timing: {RATE_HZ:.0f} Hz loop (nominal period {PERIOD_S * 1e3:.1f} ms), fake "
          f"inference {args.latency * 1e3:.0f} ms, {args.seconds:.0f} s per mode, H={HORIZON}, "
          f"request_threshold 5; load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'mode':28s} {'p50 ms':>7s} {'p99 ms':>7s} {'max ms':>7s} {'stalls':>6s} "
          f"{'stall ticks':>11s} {'mean stall ms':>13s} {'max stall ms':>12s} {'d mean':>6s}")
    for r in timing:
        print(f"{r['mode']:28s} {r['period_p50_ms']:7.2f} {r['period_p99_ms']:7.2f} "
              f"{r['period_max_ms']:7.2f} {r['stall_count']:6d} {r['stall_ticks']:11d} "
              f"{r['stall_mean_ms']:13.1f} {r['stall_max_ms']:12.1f} "
              f"{r.get('delay_steps_mean', float('nan')):6.2f}")
    async_ok = timing[0]["period_p99_ms"] <= 1.1 * PERIOD_S * 1e3
    print(f"async p99 within 10 % of nominal: {'yes' if async_ok else 'NO'}")

    modes = ("async", "naive_async", "sync")
    runs = {m: [smoothness_run(m, seed, args.sim_ticks) for seed in range(args.seeds)]
            for m in modes}
    smoothness = {}
    print(f"\nSmoothness: simulated clock, latency 2-4 ticks, threshold 4, H={HORIZON}, "
          f"J={NUM_JOINTS}, {args.seeds} seeds x {args.sim_ticks} ticks, offset std 0.05 rad")
    print(f"{'mode':12s} {'max boundary step / median step':>34s} "
          f"{'mean boundary / median':>24s} {'stalled ticks':>13s}")
    for m in modes:
        ratio = mean_ci([r["ratio"] for r in runs[m]])
        mean_ratio = mean_ci([r["boundary_mean_ratio"] for r in runs[m]])
        hold = float(np.mean([r["hold_fraction"] for r in runs[m]]))
        smoothness[m] = dict(max_jump_ratio_mean=ratio[0], max_jump_ratio_ci95=ratio[1],
                             mean_jump_ratio_mean=mean_ratio[0],
                             mean_jump_ratio_ci95=mean_ratio[1], stalled_fraction=hold,
                             per_seed=runs[m])
        print(f"{m:12s} {ratio[0]:25.2f} ± {ratio[1]:5.2f} {mean_ratio[0]:15.2f} ± "
              f"{mean_ratio[1]:5.2f} {hold * 100:12.1f}%")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(rate_hz=RATE_HZ, load_average=load, latency_s=args.latency,
                                   horizon=HORIZON, timing=timing, async_p99_within_10pct=async_ok,
                                   smoothness=smoothness, seeds=args.seeds), indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
