"""Control-chain latency at 30 Hz and at 100 Hz: today's process layout against the fast one,
side by side in one run on the same machine.

The chain: /joint_states -> policy_server -> /policy/command -> intervention_arbiter ->
/hand/command -> hand_controller -> /hand_position_controller/commands. Each configuration is
started as the launchers start it (`rollout_graph` + the `dexpie-launch` supervisor; no
recorder, no operator takeovers) under a small BC policy, and measured on the wires for
`--seconds`:

- 30 Hz: the relocate twin drives the chain (sim_hand publishes /joint_states every 33.3 ms
  after its physics step, and executes the controller's commands; episodes are reset when
  they end);
- 100 Hz: a `joint_state_broadcaster`-like process (this script with --broadcaster: every
  10 ms it publishes /sim/object_state and /joint_states with one stamp, the joint positions
  being the last controller command, as a position-controlled hand reports them) drives the
  chain configured for 100 Hz (hand_controller and intervention_arbiter rate_hz 100, the
  hand's control_rate_hz 100).

Configurations (`--configs`):
- `before`: one process per node, rclpy's SingleThreadedExecutor (`executor:=single`): the
  graph as it ran until now;
- `events`: one process per node, rclpy's EventsExecutor (`executor:=events`);
- `control`: EventsExecutor, hand_controller and intervention_arbiter in one process, the
  policy server in its own (`compose:=hand_controller,intervention_arbiter`);
- `composed`: EventsExecutor, and hand_controller, intervention_arbiter and policy_server in one
  process (`compose:=hand_controller,intervention_arbiter,policy_server`);
- `realtime`: as `composed`, the container's executor thread under SCHED_FIFO priority 50
  (`realtime_priority:=50`, as ros2_control runs its loop; needs root or an rtprio limit, and
  the run records whether the container said it got it).

Times are the middleware's source timestamps of each message (taken by Fast DDS when the
publisher writes it, the same clock for every process on this host), so the figures do not
include the monitor's own delay in receiving them. Per hop, matched by header stamp (the
policy command and the arbiter's command carry the stamp of the /joint_states tick they
answer): /joint_states -> /policy/command, /policy/command -> /hand/command; /hand/command ->
controller command (the first one after it); end to end /joint_states -> /hand/command and
/joint_states -> controller command. A tick is missed when no /hand/command answers its
/joint_states stamp; late when the answer comes after one control period. Tick rates are
counted on the wires; CPU is each process's user + system time over the window (/proc), as
a percentage of one core and in ms per tick. The wiretap is a process of its own at nice 19,
so that reading the wires does not take the CPU from the chain at the moments it measures.

    .venv/bin/python benchmarks/control_chain_latency.py [--seconds 30] [--rates 30 100]
        [--configs before events control composed realtime] [--checkpoint ...]

Prints the figures and writes benchmarks/results/control_chain_latency.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import struct
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TASK = "relocate"
COMPOSED = "hand_controller,intervention_arbiter,policy_server"
CONFIGS = {
    "before": dict(executor="single", compose="",
                   label="one process per node, SingleThreadedExecutor (the graph until now)"),
    "events": dict(executor="events", compose="", label="one process per node, EventsExecutor"),
    "control": dict(executor="events", compose="hand_controller,intervention_arbiter",
                    label="EventsExecutor, hand_controller,intervention_arbiter in one process "
                          "(policy_server isolated)"),
    "composed": dict(executor="events", compose=COMPOSED,
                     label=f"EventsExecutor, {COMPOSED} in one process"),
    "realtime": dict(executor="events", compose=COMPOSED, realtime_priority=50,
                     label="as composed, its executor thread under SCHED_FIFO 50 (realtime_priority:=50)"),
}
TWIN_RATE = 30.0
HOPS = ("joint_states_to_policy_command", "policy_command_to_hand_command",
        "hand_command_to_controller", "joint_states_to_hand_command", "joint_states_to_controller",
        "joint_states_to_hand_command_while_inferring", "joint_states_to_hand_command_otherwise")


# ---- analysis (pure: lists of (source_ns, stamp_ns) records) ----------------------------

def percentiles(values_ms) -> dict:
    values = np.asarray(values_ms, float)
    if values.size == 0:
        return dict(count=0)
    return dict(count=int(values.size), p50_ms=float(np.percentile(values, 50)),
                p99_ms=float(np.percentile(values, 99)), max_ms=float(values.max()))


def by_stamp(earlier, later) -> dict:
    """stamp -> delay (ms) from the first `earlier` message with that stamp to the first
    `later` one with it."""
    first = {}
    for source, stamp in earlier:
        first.setdefault(stamp, source)
    out = {}
    for source, stamp in later:
        if stamp in first and stamp not in out:
            out[stamp] = (source - first[stamp]) * 1e-6
    return out


def next_output(inputs, outputs) -> list:
    """For each input time (ns, sorted), the delay (ms) to the first output at or after it and
    before the next input (None when there is none)."""
    outputs = np.sort(np.asarray(outputs, np.int64))
    delays = []
    for i, t in enumerate(inputs):
        k = np.searchsorted(outputs, t, side="left")
        limit = inputs[i + 1] if i + 1 < len(inputs) else np.iinfo(np.int64).max
        delays.append((outputs[k] - t) * 1e-6 if k < len(outputs) and outputs[k] < limit else None)
    return delays


def chain_figures(records: dict, start_ns: int, end_ns: int, rate_hz: float, chunks=()) -> dict:
    """Per hop and end to end latencies, missed and late ticks, and wire rates for the ticks
    whose /joint_states was published in [start_ns, end_ns]; /joint_states -> /hand/command
    split by whether the policy's inference of a chunk was running during the tick (from the
    tick that requested it up to the one where it arrived; `chunks`: (observation stamp,
    arrival stamp) pairs)."""
    period_ms = 1e3 / rate_hz
    joint = [(s, st) for s, st in records["joint_states"] if start_ns <= s <= end_ns]
    ticks = {st for _, st in joint}
    policy = [(s, st) for s, st in records["policy_command"] if st in ticks]
    hand = [(s, st) for s, st in records["hand_command"] if st in ticks]
    controller = [s for s, _ in records["controller"] if s >= start_ns]
    to_policy = by_stamp(joint, policy)
    policy_to_hand = by_stamp(policy, hand)
    to_hand = by_stamp(joint, hand)
    first_hand = sorted({st: s for s, st in reversed(hand)}.items(), key=lambda kv: kv[1])
    hand_times = [s for _, s in first_hand]
    to_controller_hop = dict(zip([st for st, _ in first_hand], next_output(hand_times, controller)))
    to_controller = {st: to_hand[st] + d for st, d in to_controller_hop.items()
                     if d is not None and st in to_hand}
    seconds = (end_ns - start_ns) * 1e-9
    inferring = {st for st in ticks if any(obs <= st < arrival for obs, arrival in chunks)}
    return dict(
        joint_states_to_hand_command_while_inferring=percentiles(
            [d for st, d in to_hand.items() if st in inferring]),
        joint_states_to_hand_command_otherwise=percentiles(
            [d for st, d in to_hand.items() if st not in inferring]),
        ticks=len(ticks),
        joint_states_to_policy_command=percentiles(list(to_policy.values())),
        policy_command_to_hand_command=percentiles(list(policy_to_hand.values())),
        hand_command_to_controller=percentiles([d for d in to_controller_hop.values() if d is not None]),
        joint_states_to_hand_command=percentiles(list(to_hand.values())),
        joint_states_to_controller=percentiles(list(to_controller.values())),
        missed_ticks=len(ticks - set(to_hand)),
        late_ticks=int(sum(d > period_ms for d in to_hand.values())),
        ticks_without_policy_command=len(ticks - set(to_policy)),
        joint_states_rate_hz=len(joint) / seconds,
        hand_command_rate_hz=len(hand) / seconds,
        controller_rate_hz=len([s for s in controller if s <= end_ns]) / seconds,
    )


def ratio(before: dict, after: dict, key: str):
    if before.get("count") and after.get("count") and after[key] > 0:
        return before[key] / after[key]
    return None


# ---- CPU -------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- the 100 Hz joint_state_broadcaster ----------------------------------------------------

def broadcaster(params_file: Path, rate_hz: float, report: Path) -> int:
    """Publish /sim/object_state and /joint_states every 1/rate_hz s (one stamp), the joints at
    the last /hand_position_controller/commands; until SIGINT. Writes its own tick timing."""
    import rclpy
    import yaml
    from rclpy.executors import ExternalShutdownException
    from rclpy.experimental.events_executor import EventsExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from dexpie_common import topics

    hand = yaml.safe_load(params_file.read_text())["/**"]["ros__parameters"]["hand"]
    names, objects = list(hand["joint_names"]), list(hand["object_names"])
    position = np.clip(np.zeros(len(names)), hand["lower_limits"], hand["upper_limits"])
    rclpy.init()
    node = rclpy.create_node("joint_state_broadcaster")
    executor = EventsExecutor()
    executor.add_node(node)
    state = {"position": position, "commands": 0}

    def on_command(msg):
        if len(msg.data) == len(names):
            state["position"] = np.asarray(msg.data, float)
            state["commands"] += 1

    node.create_subscription(Float64MultiArray, topics.HAND_CONTROLLER_COMMANDS, on_command, 10)
    joint_pub = node.create_publisher(JointState, topics.JOINT_STATES, 10)
    object_pub = node.create_publisher(JointState, topics.SIM_OBJECT_STATE, 10)
    period = 1.0 / rate_hz
    lateness, skipped, ticks = [], 0, 0
    deadline = time.monotonic()
    try:
        while rclpy.ok():
            deadline += period
            while (remaining := deadline - time.monotonic()) > 0:
                executor.spin_once(timeout_sec=remaining)
            late = time.monotonic() - deadline
            if late > period:          # a whole period behind: skip, as a hardware loop would
                skipped += 1
                deadline = time.monotonic()
            lateness.append(late)
            stamp = node.get_clock().now().to_msg()
            obj = JointState(name=objects, position=[0.0] * len(objects))
            obj.header.stamp = stamp
            object_pub.publish(obj)
            msg = JointState(name=names, position=[float(v) for v in state["position"]])
            msg.header.stamp = stamp
            joint_pub.publish(msg)
            ticks += 1
    except (ExternalShutdownException, KeyboardInterrupt):
        pass
    except RuntimeError:
        if rclpy.ok():      # the EventsExecutor may fail this way while SIGINT shuts it down
            raise
    finally:
        late_ms = np.asarray(lateness) * 1e3
        report.write_text(json.dumps(dict(
            ticks=ticks, skipped=skipped, commands_received=state["commands"],
            wake_lateness=dict(p50_ms=float(np.percentile(late_ms, 50)) if ticks else None,
                               p99_ms=float(np.percentile(late_ms, 99)) if ticks else None,
                               max_ms=float(late_ms.max()) if ticks else None))))
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


# ---- one run -------------------------------------------------------------------------------

class WireTap:
    """Source timestamps and header stamps of the chain's messages (own context).

    Light on purpose, so that it keeps up at 100 Hz on a loaded machine (a reader that falls
    more than the publisher's depth behind loses samples): raw subscriptions (the stamp read
    from the serialized header, no deserialization), no parameter services, no rosout. A
    SingleThreadedExecutor: rclpy 7.1.6's EventsExecutor fails every callback that takes the
    message info (SystemError: null argument to internal routine). Samples it lost anyway
    are counted from the publication sequence numbers (`lost`)."""

    TOPICS = ("joint_states", "policy_command", "hand_command", "controller")

    def __init__(self, episodes: bool):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64MultiArray

        from dexpie_common import topics

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("chain_wiretap", context=self.context, start_parameter_services=False,
                                      enable_rosout=False)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.records = {name: [] for name in self.TOPICS}
        self.sequence = {name: [] for name in self.TOPICS}
        self.chunks = []    # (observation stamp, arrival stamp) of each /policy/action_chunk
        qos = QoSProfile(depth=200)
        for name, kind, topic in (("joint_states", JointState, topics.JOINT_STATES),
                                  ("policy_command", JointState, topics.POLICY_COMMAND),
                                  ("hand_command", JointState, topics.HAND_COMMAND),
                                  ("controller", Float64MultiArray, topics.HAND_CONTROLLER_COMMANDS)):
            self.node.create_subscription(kind, topic, partial(self._on, name, name != "controller"), qos,
                                          raw=True)
        from dexpie_msgs.msg import ActionChunk
        self.node.create_subscription(ActionChunk, topics.POLICY_ACTION_CHUNK, self._on_chunk, qos)
        self.client = None
        if episodes:
            from dexpie_bringup.episodes import EpisodeClient
            self.client = EpisodeClient(self.node, self.executor)

    def _on(self, name, stamped, data, info):
        # CDR: 4 bytes of encapsulation, then std_msgs/Header's stamp (int32 sec, uint32 nanosec).
        stamp = None
        if stamped:
            sec, nanosec = struct.unpack_from("<iI" if data[1] == 1 else ">iI", data, 4)
            stamp = sec * 1_000_000_000 + nanosec
        self.records[name].append((info["source_timestamp"], stamp))
        self.sequence[name].append(info["publication_sequence_number"])

    def _on_chunk(self, msg):
        def ns(t):
            return t.sec * 1_000_000_000 + t.nanosec
        self.chunks.append((ns(msg.observation_stamp), ns(msg.header.stamp)))

    def lost(self) -> dict:
        """Samples of each topic published while listening but not received."""
        out = {}
        for name, numbers in self.sequence.items():
            numbers = np.asarray(numbers, np.int64)
            out[name] = int(numbers.max() - numbers.min() + 1 - np.unique(numbers).size) if numbers.size else 0
        return out

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            self.executor.spin_once(timeout_sec=min(remaining, 0.05))

    def spin_until(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


def parameters_for_rate(rate_hz: float, out: Path) -> Path:
    """The relocate parameters file with the hand, hand_controller and intervention_arbiter at
    `rate_hz`."""
    import yaml

    from dexpie_bringup.graph import sim_parameter_file
    document = yaml.safe_load(Path(sim_parameter_file(TASK)).read_text())
    document["/**"]["ros__parameters"]["hand"]["control_rate_hz"] = float(rate_hz)
    for node in ("hand_controller", "intervention_arbiter"):
        document[node]["ros__parameters"]["rate_hz"] = float(rate_hz)
    out.write_text(yaml.safe_dump(document, sort_keys=False))
    return out


def wiretap(out: Path, rate_hz: float, seconds: float, twin: bool) -> int:
    """The measuring process (nice 19: it must not take the CPU from the chain it measures;
    the source timestamps do not depend on when it reads them). Waits for the policy in
    control, settles 2 s, prints START, records `seconds` (resetting the twin when an episode
    ends), prints END, and writes what it saw to `out`."""
    os.nice(19)
    tap = WireTap(episodes=twin)
    resets = 0
    try:
        if twin:
            tap.client.reset_scene(TASK, "init", 0, timeout=120)
        tap.spin_until(lambda: len(tap.records["hand_command"]) > 3 * rate_hz
                       and len(tap.records["policy_command"]) > 3 * rate_hz, 180,
                       "the policy in control of the chain")
        tap.spin_for(2.0)   # settle
        start_ns, start = time.time_ns(), time.monotonic()
        print(f"START {start_ns}", flush=True)
        while time.monotonic() - start < seconds:
            if twin and (tap.client.status.get("success") or tap.client.status.get("timed_out")):
                resets += 1
                tap.client.reset_scene(TASK, "init", resets)
            tap.spin_for(0.05)
        end_ns = time.time_ns()
        print(f"END {end_ns}", flush=True)
        tap.spin_for(0.5)   # the answers to the last ticks
        out.write_text(json.dumps(dict(records=tap.records, chunks=tap.chunks, start_ns=start_ns,
                                       end_ns=end_ns, lost=tap.lost(), resets=resets)))
    finally:
        tap.close()
    return 0


def run_once(config: str, rate_hz: float, checkpoint: Path, seconds: float, work: Path,
             domain: int) -> dict:
    from dexpie_bringup.graph import GraphOptions, rollout_graph
    from dexpie_bringup.supervisor import GraphSupervisor

    os.environ["ROS_DOMAIN_ID"] = str(domain)
    twin = abs(rate_hz - TWIN_RATE) < 1e-9
    setting = CONFIGS[config]
    params = None if twin else parameters_for_rate(rate_hz, work / f"chain_{rate_hz:g}hz.yaml")
    options = GraphOptions(task=TASK, checkpoint=str(checkpoint), sim=twin, record=False,
                           operator="never", params_file="" if twin else str(params),
                           executor=setting["executor"], compose=setting["compose"],
                           realtime_priority=str(setting.get("realtime_priority", 0)),
                           clock="wall")   # the real-time chain: the twin ticks on the wall clock
    transcript = open(work / f"{config}_{rate_hz:g}hz.log", "w")
    supervisor = GraphSupervisor(rollout_graph(options), output=transcript).start()
    feeder, report = None, work / f"broadcaster_{config}_{rate_hz:g}.json"
    if not twin:
        feeder = subprocess.Popen([sys.executable, __file__, "--broadcaster", str(params), "--rate",
                                   str(rate_hz), "--report", str(report)], start_new_session=True)
    seen = work / f"wiretap_{config}_{rate_hz:g}.json"
    tap = subprocess.Popen([sys.executable, __file__, "--wiretap", str(seen), "--rate", str(rate_hz),
                            "--seconds", str(seconds)] + (["--twin"] if twin else []),
                           stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        processes = {name: m.process.pid for name, m in supervisor.managed.items() if m.process}
        if feeder is not None:
            processes["joint_state_broadcaster (benchmark)"] = feeder.pid
        processes["wiretap (benchmark, nice 19)"] = tap.pid
        marks = {}
        for line in tap.stdout:
            word = line.split()[0] if line.split() else ""
            if word in ("START", "END"):
                marks[word] = (time.monotonic(), {name: cpu_seconds(pid) for name, pid in processes.items()},
                               os.getloadavg())
        if tap.wait(timeout=60) != 0 or set(marks) != {"START", "END"}:
            raise RuntimeError(f"{config} at {rate_hz:g} Hz: the wiretap failed (dead nodes: {supervisor.dead()}; "
                               f"see {transcript.name})")
        dead = supervisor.dead()
        if dead:
            raise RuntimeError(f"{config} at {rate_hz:g} Hz: {dead} exited")
    finally:
        if tap.poll() is None:
            tap.kill()
        if feeder is not None:
            feeder.send_signal(signal.SIGINT)
            feeder.wait(timeout=10)
        supervisor.stop()
        transcript.close()
    data = json.loads(seen.read_text())
    records = {name: [tuple(r) for r in values] for name, values in data["records"].items()}
    figures = chain_figures(records, data["start_ns"], data["end_ns"], rate_hz, data["chunks"])
    (start, cpu_start, load_start), (end, cpu_end, load_end) = marks["START"], marks["END"]
    elapsed = end - start
    cpu = {}
    for name in processes:
        if cpu_start[name] is not None and cpu_end[name] is not None:
            used = cpu_end[name] - cpu_start[name]
            cpu[name] = dict(percent_of_one_core=100.0 * used / elapsed,
                             ms_per_tick=1e3 * used / max(figures["ticks"], 1))
    result = dict(config=config, description=setting["label"], rate_hz=rate_hz, wiretap_lost=data["lost"],
                  driver="twin (sim_hand)" if twin else "joint_state_broadcaster at 100 Hz",
                  executor=setting["executor"], compose=setting["compose"], seconds=elapsed,
                  resets=data["resets"], load_average_start=load_start, load_average_end=load_end,
                  cpu=cpu, **figures)
    if feeder is not None and report.exists():
        result["broadcaster"] = json.loads(report.read_text())
    log = (work / f"{config}_{rate_hz:g}hz.log").read_text()
    result["realtime_granted"] = "executor thread under SCHED_FIFO" in log
    if setting.get("realtime_priority") and not result["realtime_granted"]:
        print(f"warning: {config} at {rate_hz:g} Hz ran without SCHED_FIFO (not permitted here)", flush=True)
    return result


# ---- report ----------------------------------------------------------------------------------

def show(results: list[dict], configs: list[str]) -> list[str]:
    lines = []
    for rate in sorted({r["rate_hz"] for r in results}):
        runs = {r["config"]: r for r in results if r["rate_hz"] == rate}
        first = next(iter(runs.values()))
        lines.append(f"\n== {rate:g} Hz, driven by {first['driver']}, {first['seconds']:.0f} s per configuration ==")
        for config in configs:
            if config in runs:
                lines.append(f"  {config:9s}: {runs[config]['description']}")
        head = f"{'path (ms)':34s}" + "".join(f"{c + ' p50/p99/max':>26s}" for c in configs if c in runs)
        lines.append(head)
        for hop in HOPS:
            row = f"{hop:34s}"
            for config in configs:
                if config in runs:
                    p = runs[config][hop]
                    row += (f"{p['p50_ms']:8.2f} {p['p99_ms']:8.2f} {p['max_ms']:8.2f}" if p.get("count")
                            else f"{'-':>26s}")
            lines.append(row)
        for key, label in (("ticks", "ticks measured"), ("missed_ticks", "missed ticks (no /hand/command)"),
                           ("late_ticks", f"late ticks (> {1e3 / rate:.1f} ms)"),
                           ("joint_states_rate_hz", "/joint_states rate [Hz]"),
                           ("hand_command_rate_hz", "/hand/command rate [Hz]"),
                           ("controller_rate_hz", "controller rate [Hz]")):
            row = f"{label:34s}"
            for config in configs:
                if config in runs:
                    value = runs[config][key]
                    row += f"{value:26.2f}" if isinstance(value, float) else f"{value:26d}"
            lines.append(row)
        row = f"{'samples the wiretap lost':34s}"
        for config in configs:
            if config in runs:
                row += f"{sum(runs[config]['wiretap_lost'].values()):26d}"
        lines.append(row)
        lines.append("CPU [% of one core | ms per tick]")
        names = []
        for config in configs:
            for name in runs.get(config, {}).get("cpu", {}):
                if name not in names:
                    names.append(name)
        for name in names:
            row = f"  {name[:32]:32s}"
            for config in configs:
                if config in runs:
                    c = runs[config]["cpu"].get(name)
                    row += f"{c['percent_of_one_core']:14.1f} | {c['ms_per_tick']:8.3f}" if c else f"{'':>26s}"
            lines.append(row)
        row = f"  {'total':32s}"
        for config in configs:
            if config in runs:
                total = sum(c["percent_of_one_core"] for c in runs[config]["cpu"].values())
                per_tick = sum(c["ms_per_tick"] for c in runs[config]["cpu"].values())
                row += f"{total:14.1f} | {per_tick:8.3f}"
        lines.append(row)
        row = f"{'load average (1 min) start/end':34s}"
        for config in configs:
            if config in runs:
                row += f"{runs[config]['load_average_start'][0]:18.2f} / {runs[config]['load_average_end'][0]:5.2f}"
        lines.append(row)
        if "before" in runs:
            for config in configs:
                if config != "before" and config in runs:
                    r = [ratio(runs["before"][hop], runs[config][hop], "p99_ms") for hop in
                         ("joint_states_to_hand_command", "joint_states_to_controller")]
                    lines.append(f"p99 before/{config}: /joint_states -> /hand/command "
                                 f"{r[0]:.2f}x, /joint_states -> controller {r[1]:.2f}x"
                                 if None not in r else f"p99 before/{config}: n/a")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per configuration and rate")
    parser.add_argument("--rates", type=float, nargs="+", default=[30.0, 100.0],
                        help="30: the twin drives the chain; any other: the broadcaster")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "control_chain_latency.json")
    parser.add_argument("--broadcaster", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=100.0, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--wiretap", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--twin", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.broadcaster is not None:
        return broadcaster(args.broadcaster, args.rate, args.report)
    if args.wiretap is not None:
        return wiretap(args.wiretap, args.rate, args.seconds, args.twin)

    sys.path.insert(0, str(ROOT / "src" / "dexpie_bringup" / "test"))
    from graph_harness import train_tiny_policy

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    work = Path(tempfile.mkdtemp(prefix="control_chain_"))
    checkpoint = args.checkpoint or train_tiny_policy(TASK, work, demos=3, steps=200)
    base_domain = 1 + os.getpid() % 60
    results = []
    # Interleaved (rate by rate, configurations in turn) so that a change in the machine's
    # load hits every configuration alike.
    for rate in args.rates:
        for config in args.configs:
            domain = base_domain + len(results)
            print(f"[{time.strftime('%H:%M:%S')}] {config} at {rate:g} Hz (load {os.getloadavg()[0]:.2f}) ...",
                  flush=True)
            results.append(run_once(config, rate, checkpoint, args.seconds, work, domain))
    lines = show(results, args.configs)
    print("\n".join(lines))
    document = dict(
        task=TASK, checkpoint=str(checkpoint), seconds_per_run=args.seconds, configs={
            c: CONFIGS[c]["label"] for c in args.configs}, runs=results,
        machine=dict(cpus=os.cpu_count(), python=platform.python_version(), platform=platform.platform()),
        commit=subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip(),
        logs=str(work))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2))
    print(f"wrote {args.out} (graph logs in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
