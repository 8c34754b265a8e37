"""End-to-end latency of the running ROS 2 graph, and the control tick rate it achieves.

Starts the sim rollout graph as separate processes (the `dexpie-launch` supervisor: sim_hand,
sim_operator, hand_controller, intervention_arbiter, policy_server; no recorder), runs
episodes under policy control, and measures on the wires:

- observation -> controller command: from the arrival of a /joint_states message to the
  arrival of the /hand_position_controller/commands message it caused (the next one after
  it), p50 / p99 / max, in ms; and the stages of that path (/joint_states -> /policy/command
  and /policy/command -> /hand/command, matched by header stamp);
- the tick rate achieved by /joint_states and by the controller topic vs the nominal rate.

    .venv/bin/python benchmarks/graph_latency.py [--task relocate] [--seconds 30]
        [--checkpoint runs/latest/policies/relocate_bc]   # default: a small policy trained here

Prints the figures and writes benchmarks/results/graph_latency.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "dexpie_bringup" / "test"))
from graph_harness import Monitor, limits, start_sim_graph, train_tiny_policy  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def percentiles(values_s) -> dict:
    values = np.asarray(values_s) * 1e3
    if values.size == 0:
        return dict(count=0)
    return dict(count=int(values.size), p50_ms=float(np.percentile(values, 50)),
                p99_ms=float(np.percentile(values, 99)), max_ms=float(values.max()))


def observation_to_command(joint_states, commands) -> list[float]:
    """For each /joint_states arrival, the delay to the first controller command after it
    (and before the next /joint_states): the command that tick caused."""
    arrivals = np.array([j[0] for j in joint_states])
    outputs = np.array([c[0] for c in commands])
    delays = []
    for i, t in enumerate(arrivals[:-1]):
        k = np.searchsorted(outputs, t, side="right")
        if k < len(outputs) and outputs[k] < arrivals[i + 1]:
            delays.append(outputs[k] - t)
    return delays


def by_stamp(earlier, later) -> list[float]:
    first = {round(e[1], 6): e[0] for e in earlier}
    return [l[0] - first[round(l[1], 6)] for l in later if round(l[1], 6) in first]


def rate(records, start, end) -> float:
    return len([r for r in records if start <= r[0] <= end]) / (end - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="relocate")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time under policy control")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "graph_latency.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    work = Path(tempfile.mkdtemp(prefix="graph_latency_"))
    checkpoint = args.checkpoint or train_tiny_policy(args.task, work, demos=3, steps=200)
    params = limits(args.task)
    supervisor, transcript = start_sim_graph(args.task, checkpoint, work / "episodes", work / "logs",
                                             record=False, operator="never", clock="wall")
    monitor = Monitor(params["hand_controller"]["joint_names"])
    try:
        client = monitor.client
        client.reset_scene(args.task, "init", 0, timeout=120)
        monitor.spin_until(lambda: len(monitor.wires.controller_commands) > 30, 120, "the policy in control")
        start = time.monotonic()
        seed = 1
        while time.monotonic() - start < args.seconds:
            if client.status.get("success") or client.status.get("timed_out"):
                client.reset_scene(args.task, "init", seed)
                seed += 1
            monitor.executor.spin_once(timeout_sec=0.05)
        end = time.monotonic()
        wires = monitor.wires
        joint_states = [j for j in wires.joint_states if start <= j[0] <= end]
        commands = [c for c in wires.controller_commands if start <= c[0] <= end + 0.5]
        rate_hz = params["sim_hand"]["rate_hz"]
        result = dict(
            task=args.task, seconds=end - start, nominal_rate_hz=rate_hz, resets=seed - 1,
            observation_to_controller=percentiles(observation_to_command(joint_states, commands)),
            joint_states_to_policy_command=percentiles(by_stamp(wires.joint_states, wires.policy_commands)),
            policy_command_to_hand_command=percentiles(by_stamp(wires.policy_commands, wires.hand_commands)),
            joint_states_to_hand_command=percentiles(by_stamp(wires.joint_states, wires.hand_commands)),
            joint_states_rate_hz=rate(wires.joint_states, start, end),
            controller_rate_hz=rate(wires.controller_commands, start, end),
            machine=dict(cpus=os.cpu_count(), python=platform.python_version()),
            checkpoint=str(checkpoint))
    finally:
        monitor.close()
        supervisor.stop()
    print(f"graph latency ({args.task}, {result['seconds']:.0f} s under policy control, nominal "
          f"{rate_hz:.0f} Hz)")
    print(f"{'path':36s} {'count':>6s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}")
    for key in ("observation_to_controller", "joint_states_to_policy_command", "policy_command_to_hand_command",
                "joint_states_to_hand_command"):
        p = result[key]
        if p["count"]:
            print(f"{key:36s} {p['count']:6d} {p['p50_ms']:8.2f} {p['p99_ms']:8.2f} {p['max_ms']:8.2f}")
    print(f"tick rate: /joint_states {result['joint_states_rate_hz']:.2f} Hz, controller "
          f"{result['controller_rate_hz']:.2f} Hz (nominal {rate_hz:.0f} Hz)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
