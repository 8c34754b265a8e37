"""Where one control tick's time goes, node by node: a profile of the chain
/joint_states -> policy_server -> intervention_arbiter -> hand_controller.

The chain runs at 100 Hz, driven by control_chain_latency.py's joint_state_broadcaster (no
twin), once per configuration (`before`: one process per node on rclpy's
SingleThreadedExecutor, the graph until now; `composed`: the three nodes in one
node_container on the EventsExecutor). Every chain process runs under cProfile with a
thread-CPU clock (time.thread_time): the figures are the CPU time of each process's main
thread (the executor's thread: callbacks, executor, message conversion; not the middleware's
threads nor the policy's inference thread), charged to the function that spent it, so time
waiting (for a message, for the GIL) is not counted. The functions are grouped:

- executor: rclpy's Python executor (wait-set rebuild over every subscription, timer,
  service, parameter service and event handler of the node, readiness scan, dispatch, the
  contextlib stacks it uses) and the C wait call;
- events executor (C++): EventsExecutor.spin_once, which includes its dispatch and the
  conversion of each taken message to Python;
- take (C: message -> Python) and publish (Python -> C, serialization, DDS write);
- message objects: the generated message classes' constructors and field setters (run when
  a message is taken and when a node builds one);
- clock, logging, locks and queues (threading, queue), numpy;
- node code: the nodes' callbacks, the cores (arbiter, safety filter, scheduler,
  synchronizer) and dexpie_common.messages;
- a builtin or standard-library function (getattr, isinstance, inspect, ...) counts for the
  groups of its callers.

Profiling starts once the policy is in control (plus 2 s), so start-up is not in the figures.

Per tick = total / the ticks the node handled (its /joint_states callbacks). Wake-ups per tick:
the executor's waits (single) or spin_once calls (events) per tick. cProfile's own cost
(about a microsecond per Python call) inflates the Python-heavy groups; compare groups and
configurations, and take latencies from control_chain_latency.py.

    .venv/bin/python benchmarks/control_tick_profile.py [--seconds 15] [--checkpoint ...]

Prints the table and writes benchmarks/results/control_tick_profile.json.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RATE_HZ = 100.0
CONFIGS = {
    "before": dict(executor="single", compose="",
                   label="one process per node, SingleThreadedExecutor (the graph until now)"),
    "composed": dict(executor="events", compose="hand_controller,intervention_arbiter,policy_server",
                     label="EventsExecutor, the three nodes in one node_container"),
}
CHAIN = ("hand_controller", "intervention_arbiter", "policy_server")
# The callback that runs once per tick in each node (its ncalls = the ticks it handled).
TICK_CALLBACK = {"hand_controller": ("hand_controller_node.py", "_on_command"),
                 "intervention_arbiter": ("intervention_arbiter_node.py", "_on_joint_states"),
                 "policy_server": ("policy_server_node.py", "_on_joint_states")}
GENERIC = "generic"
GROUPS = ("executor", "events executor (C++)", "take", "publish", "message objects", "clock", "logging",
          "locks and queues", "numpy", "node code", "other")

# Run an executable (a console script); cProfile (thread-CPU clock) from SIGUSR1 (the window
# starts once the chain runs steadily: start-up is not profiled) to the exit.
_PROFILED = """
import cProfile, runpy, signal, sys, time
out, script = sys.argv[1], sys.argv[2]
sys.argv = sys.argv[2:]
profile = cProfile.Profile(time.thread_time)
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit:
    pass
finally:
    profile.disable()
    profile.dump_stats(out)
"""


def group_of(function: tuple) -> str | None:
    """The group of a pstats function key (file, line, name); None: start-up."""
    path, _, name = function
    if path == "~":
        if "_rclpy_pybind11.spin_once" in name or "EventsExecutor" in name:
            return "events executor (C++)"
        if "_rclpy_pybind11.wait" in name:
            return "executor"
        if "take_message" in name:
            return "take"
        if "_rclpy_pybind11.publish" in name:
            return "publish"
        if "get_now" in name:
            return "clock"
        if "numpy" in name or "ufunc" in name or "ndarray" in name:
            return "numpy"
        if any(k in name for k in ("exec", "compile", "marshal", "_imp.", "posix.", "io.open", "_io.",
                                   "torch", "build_class")):
            return None
        if "acquire" in name or "release" in name or "lock" in name.lower():
            return "locks and queues"
        return GENERIC   # getattr, isinstance, list.extend...: charged to the caller
    if "importlib" in path or path.startswith("<frozen"):
        return None
    if "/rclpy/" in path:
        tail = path.split("/rclpy/", 1)[1]
        if tail.startswith(("executors.py", "waitable.py", "event_handler.py", "callback_groups.py",
                            "task.py", "guard_condition.py", "context.py", "timer.py", "utilities.py",
                            "experimental/")):
            return "executor"
        if tail.startswith(("clock.py", "time.py", "duration.py")):
            return "clock"
        if tail.startswith(("logging", "impl/rcutils_logger")):
            return "logging"
        if tail.startswith("publisher.py"):
            return "publish"
        if tail.startswith("subscription.py"):
            return "take"
        if tail.startswith(("node.py", "parameter", "qos", "type_support", "type_description",
                            "service.py", "client.py", "exceptions.py")):
            return None if name in ("__init__", "create_subscription", "create_publisher",
                                    "declare_parameter", "declare_parameters") else "other"
        return "other"
    if "contextlib.py" in path:
        return "executor"
    if "/msg/_" in path or "/srv/_" in path:
        return "message objects"
    if path.endswith(("threading.py", "queue.py")):
        return "locks and queues"
    if "/numpy/" in path:
        return "numpy"
    if "/src/dexpie_" in path:
        return None if name == "<module>" else "node code"
    if "/torch/" in path or "safetensors" in path:
        return None
    if "/lib/python3" in path and "site-packages" not in path:
        return GENERIC   # the standard library (inspect, typing, functools, ...): the caller's
    return "other"


def resolved_groups(stats: dict) -> dict:
    """function key -> {group: share}: a generic function's time (a builtin, the standard
    library) goes to the groups of its callers, in proportion to what each caller spent in it."""
    memo: dict = {}

    def shares(key, depth=0) -> dict:
        if key in memo:
            return memo[key]
        group = group_of(key)
        if group != GENERIC:
            result = {group: 1.0}
        elif depth > 8 or key not in stats:
            result = {"other": 1.0}
        else:
            callers = stats[key][4]
            total = sum(v[2] for v in callers.values())
            if total <= 0:
                result = {"other": 1.0}
            else:
                result = {}
                for caller, value in callers.items():
                    for g, w in shares(caller, depth + 1).items():
                        result[g] = result.get(g, 0.0) + w * value[2] / total
        memo[key] = result
        return result

    return {key: shares(key) for key in stats}


def profile_figures(path: Path, node_names: list[str]) -> dict:
    """Per-tick CPU of the main thread by group, for the nodes profiled in `path`."""
    stats = pstats.Stats(str(path)).stats   # key -> (cc, nc, tottime, cumtime, callers)
    totals = dict.fromkeys(GROUPS, 0.0)
    startup = 0.0
    ticks, wakeups = {}, 0
    groups = resolved_groups(stats)
    for key, (_, ncalls, tottime, _, _) in stats.items():
        for group, share in groups[key].items():
            if group is None:
                startup += tottime * share
            else:
                totals[group] += tottime * share
        if key[0] == "~" and ("_rclpy_pybind11.wait" in key[2] or "_rclpy_pybind11.spin_once" in key[2]):
            wakeups += ncalls
        for node in node_names:
            file, function = TICK_CALLBACK[node]
            if key[0].endswith(file) and key[2] == function:
                ticks[node] = ncalls
    count = max(ticks.values()) if ticks else 0
    per_tick = {g: 1e3 * t / count for g, t in totals.items()} if count else {}
    return dict(nodes=node_names, ticks=count, ticks_by_node=ticks, wakeups_per_tick=wakeups / count if count else None,
                cpu_ms_per_tick=sum(per_tick.values()), groups_ms_per_tick=per_tick, startup_s=startup)


def _latency_module():
    spec = importlib.util.spec_from_file_location("control_chain_latency",
                                                  ROOT / "benchmarks" / "control_chain_latency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def profile_config(config: str, checkpoint: Path, seconds: float, work: Path, domain: int) -> dict:
    import dexpie_bringup.supervisor as supervisor_module
    from dexpie_bringup.graph import GraphOptions, rollout_graph

    latency = _latency_module()
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    setting = CONFIGS[config]
    params = latency.parameters_for_rate(RATE_HZ, work / "chain_100hz.yaml")
    options = GraphOptions(task=latency.TASK, checkpoint=str(checkpoint), sim=False, record=False,
                           params_file=str(params), executor=setting["executor"], compose=setting["compose"])
    nodes = rollout_graph(options)
    outputs = {n.name: work / f"{config}_{n.name}.prof" for n in nodes}
    plain = supervisor_module.command_line

    def profiled(node):
        return [sys.executable, "-c", _PROFILED, str(outputs[node.name]), *plain(node)]

    supervisor_module.command_line = profiled
    try:
        log = open(work / f"{config}.log", "w")
        supervisor = supervisor_module.GraphSupervisor(nodes, output=log).start()
    finally:
        supervisor_module.command_line = plain
    report = work / f"broadcaster_{config}.json"
    feeder = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "control_chain_latency.py"),
                               "--broadcaster", str(params), "--rate", str(RATE_HZ), "--report", str(report)],
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        # Up when the policy answers (its command count grows); then the measured time.
        started = False
        while time.monotonic() < deadline and not started:
            time.sleep(0.5)
            started = "policy in control" in (work / f"{config}.log").read_text()
            if supervisor.dead():
                raise RuntimeError(f"{config}: {supervisor.dead()} exited; see {work / f'{config}.log'}")
        if not started:
            raise RuntimeError(f"{config}: the policy never took control; see {work / f'{config}.log'}")
        time.sleep(2.0)     # settle
        load = os.getloadavg()
        for name, managed in supervisor.managed.items():
            if managed.process is not None:
                os.kill(managed.process.pid, signal.SIGUSR1)
        time.sleep(seconds)
    finally:
        feeder.send_signal(signal.SIGINT)
        feeder.wait(timeout=10)
        supervisor.stop(timeout=30)
        log.close()
    processes = {}
    for node in nodes:
        members = [m.name for m in node.members] or [node.name]
        members = [m for m in members if m in CHAIN]
        if members and outputs[node.name].exists():
            processes[node.name] = profile_figures(outputs[node.name], members)
    return dict(config=config, description=setting["label"], rate_hz=RATE_HZ, load_average_start=load,
                processes=processes)


def show(results: list[dict]) -> list[str]:
    lines = []
    for result in results:
        lines.append(f"\n== {result['config']}: {result['description']} ({result['rate_hz']:g} Hz; "
                     f"load {result['load_average_start'][0]:.2f}) ==")
        names = list(result["processes"])
        lines.append(f"{'main-thread CPU, ms per tick':32s}" + "".join(f"{n[:24]:>26s}" for n in names))
        for group in GROUPS:
            lines.append(f"  {group:30s}" + "".join(
                f"{result['processes'][n]['groups_ms_per_tick'].get(group, 0.0):26.3f}" for n in names))
        lines.append(f"  {'total':30s}" + "".join(f"{result['processes'][n]['cpu_ms_per_tick']:26.3f}"
                                                   for n in names))
        lines.append(f"  {'executor wake-ups per tick':30s}" + "".join(
            f"{result['processes'][n]['wakeups_per_tick'] or 0:26.1f}" for n in names))
        lines.append(f"  {'ticks':30s}" + "".join(f"{result['processes'][n]['ticks']:26d}" for n in names))
    chain = {r["config"]: sum(p["cpu_ms_per_tick"] for p in r["processes"].values()) for r in results}
    lines.append("\nchain main-thread CPU per tick: " + ", ".join(f"{c} {v:.2f} ms" for c, v in chain.items()))
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="profiled time per configuration")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=RESULTS / "control_tick_profile.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src" / "dexpie_bringup" / "test"))
    from graph_harness import train_tiny_policy

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    work = Path(tempfile.mkdtemp(prefix="control_tick_profile_"))
    checkpoint = args.checkpoint or train_tiny_policy("relocate", work, demos=3, steps=200)
    results = []
    for i, config in enumerate(args.configs):
        print(f"[{time.strftime('%H:%M:%S')}] profiling {config} (load {os.getloadavg()[0]:.2f}) ...", flush=True)
        results.append(profile_config(config, checkpoint, args.seconds, work, 61 + os.getpid() % 30 + i))
    print("\n".join(show(results)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(dict(
        results=results, seconds=args.seconds, checkpoint=str(checkpoint), profiles=str(work),
        machine=dict(cpus=os.cpu_count(), python=platform.python_version()),
        commit=subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()), indent=2))
    print(f"wrote {args.out} (profiles in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
