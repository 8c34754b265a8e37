"""The observer of test_two_hosts.py, run as its own process inside one network namespace
(`ip netns exec <ns> python two_hosts_probe.py ...`); Python 3.11 cannot move a thread of the
test process into a namespace. It writes what it saw as JSON to --out.

listen: count /joint_states and list the node names seen: until --min-joint-states have come
    (the positive control: discovery works from here) and then for --seconds more (the window in
    which what must not be seen is not seen), or until --deadline.
episode: on the robot host's side, wait for the policy (on the other host) to be in control,
    record what crosses the wires during one episode run by the episode client, then, with
    --cut-link <dev>, take this host's end of the link down and wait for the arbiter to hold,
    bring it up again and wait for the policy to take control back.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState

from dexpie_bringup.episodes import EpisodeClient
from dexpie_common import topics
from dexpie_common.messages import stamp_to_seconds
from dexpie_msgs.msg import ActionChunk, InterventionState

SOURCE_POLICY, SOURCE_HOLD = InterventionState.SOURCE_POLICY, InterventionState.SOURCE_SAFETY_HOLD


def listen(seconds: float, min_joint_states: int, deadline: float) -> dict:
    rclpy.init()
    node = rclpy.create_node("two_hosts_listener")
    seen = []
    node.create_subscription(JointState, topics.JOINT_STATES, lambda m: seen.append(1), 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    names = set()
    begin = time.monotonic()
    window_from = begin if min_joint_states <= 0 else None
    while time.monotonic() - begin < deadline:
        executor.spin_once(timeout_sec=0.05)
        names.update(node.get_node_names())
        if window_from is None and len(seen) >= min_joint_states:
            window_from = time.monotonic()
        if window_from is not None and time.monotonic() - window_from >= seconds:
            break
    node.destroy_node()
    rclpy.shutdown()
    return {"joint_states": len(seen), "nodes": sorted(names - {"two_hosts_listener"})}


class Wires:
    def __init__(self, node):
        # Header stamps may be the twin's simulated time (its lockstep clock): latencies are the
        # middleware's reception times of messages matched by stamp (received_timestamp, set
        # by the DDS reader on arrival) and its source_timestamp (set by the writer, on the
        # other host's clock: one clock here). States: this process's monotonic time.
        self.policy = {}        # stamp -> ({joint: position}, received, sent)
        self.hand = {}          # stamp -> {joint: position}
        self.states = []        # (monotonic, stamp, source, reason)
        self.joint_states = {}  # stamp -> received
        self.chunks = []        # (delay_steps, inference_latency, monotonic, observation stamp, received)
        now = time.monotonic
        sub = node.create_subscription
        sub(JointState, topics.POLICY_COMMAND, lambda m, info: self.policy.__setitem__(
            stamp_to_seconds(m.header.stamp), (dict(zip(m.name, m.position)), info["received_timestamp"] * 1e-9,
                                               info["source_timestamp"] * 1e-9)), 100)
        sub(JointState, topics.HAND_COMMAND, lambda m: self.hand.__setitem__(
            stamp_to_seconds(m.header.stamp), dict(zip(m.name, m.position))), 100)
        sub(InterventionState, topics.INTERVENTION_STATE, lambda m: self.states.append(
            (now(), stamp_to_seconds(m.header.stamp), int(m.source), int(m.reason))), 100)
        sub(JointState, topics.JOINT_STATES, lambda m, info: self.joint_states.__setitem__(
            stamp_to_seconds(m.header.stamp), info["received_timestamp"] * 1e-9), 100)
        sub(ActionChunk, topics.POLICY_ACTION_CHUNK, lambda m, info: self.chunks.append(
            (int(m.delay_steps), float(m.inference_latency), now(),
             stamp_to_seconds(m.observation_stamp), info["received_timestamp"] * 1e-9)), 10)

    def policy_ticks_since(self, wall: float) -> int:
        return sum(1 for s in self.states if s[0] >= wall and s[2] == SOURCE_POLICY)


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else None


def same_command(a: dict, b: dict) -> bool:
    return bool(a) and a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-9 for k in a)


def episode(task: str, seed: int, max_ticks: int, cut_link: str | None, ready_timeout: float,
            timeout: float) -> dict:
    rclpy.init()
    node = rclpy.create_node("two_hosts_probe")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    wires = Wires(node)
    client = EpisodeClient(node, executor)
    report = {"nodes": []}
    try:
        begin = time.monotonic()
        client.spin_until(lambda: len(wires.policy) >= 5 and wires.policy_ticks_since(begin) >= 5, ready_timeout,
                          "policy commands from the other host and policy ticks of the arbiter")
        report["nodes"] = sorted(set(node.get_node_names()) - {"two_hosts_probe"})
        started = time.monotonic()
        result = client.run_episode(task, "init", seed, max_ticks=max_ticks, timeout=timeout)
        ended = time.monotonic()
        report["episode"] = {"bag_path": result.bag_path, "ticks": result.ticks, "outcome": result.outcome}
        states = [s for s in wires.states if started <= s[0] <= ended]
        policy_states = [s for s in states if s[2] == SOURCE_POLICY]
        # A policy tick's /hand/command is the policy's command for the same observation.
        followed = [s for s in policy_states if s[1] in wires.policy and s[1] in wires.hand
                    and same_command(wires.policy[s[1]][0], wires.hand[s[1]])]
        episode_stamps = {s[1] for s in states}
        commands = [(stamp, received, sent) for stamp, (_, received, sent) in wires.policy.items()
                    if stamp in episode_stamps and stamp in wires.joint_states]
        # /joint_states (published here) -> the policy's command for it (from the other host)
        round_trip = [received - wires.joint_states[stamp] for stamp, received, _ in commands]
        # the command's way over the link: written there -> received here
        one_way = [received - sent for _, received, sent in commands]
        chunks = [c for c in wires.chunks if started <= c[2] <= ended]
        report.update(
            states=len(states), policy_states=len(policy_states), followed=len(followed),
            sources=sorted({s[2] for s in states}), policy_commands=len(commands),
            round_trip_median=median(round_trip), round_trip_max=max(round_trip, default=None),
            command_one_way_median=median(one_way), command_one_way_max=max(one_way, default=None),
            chunk_delay_steps=[c[0] for c in chunks],
            chunk_inference_latency_median=median([c[1] for c in chunks]),
            # /joint_states of the chunk's observation -> the chunk here
            chunk_round_trip_median=median([c[4] - wires.joint_states[c[3]] for c in chunks
                                            if c[3] in wires.joint_states]))
        if cut_link:
            cut = time.monotonic()
            subprocess.run(["ip", "link", "set", cut_link, "down"], check=True)
            client.spin_until(lambda: any(s[0] >= cut and s[2] == SOURCE_HOLD for s in wires.states), timeout,
                              "the arbiter to hold once the policy's host is cut off")
            report["hold_after"] = min(s[0] for s in wires.states if s[0] >= cut and s[2] == SOURCE_HOLD) - cut
            restored = time.monotonic()
            subprocess.run(["ip", "link", "set", cut_link, "up"], check=True)
            client.spin_until(lambda: wires.policy_ticks_since(restored) >= 5, timeout,
                              "the policy to take control back once the link is up again")
            report["resumed_after"] = min(s[0] for s in wires.states
                                          if s[0] >= restored and s[2] == SOURCE_POLICY) - restored
    except Exception as error:   # reported to the test, which shows it with the graph's logs
        report["error"] = f"{type(error).__name__}: {error}"
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["listen", "episode"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--min-joint-states", type=int, default=0)
    parser.add_argument("--deadline", type=float, default=60.0)
    parser.add_argument("--task", default="relocate")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--max-ticks", type=int, default=40)
    parser.add_argument("--cut-link", default=None)
    parser.add_argument("--ready-timeout", type=float, default=150.0,
                        help="seconds for both halves of the graph to start and find each other")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for each later wait")
    args = parser.parse_args(argv)
    report = listen(args.seconds, args.min_joint_states, args.deadline) if args.mode == "listen" else \
        episode(args.task, args.seed, args.max_ticks, args.cut_link, args.ready_timeout, args.timeout)
    with open(args.out, "w") as out:
        json.dump(report, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
