"""Shared by the graph integration tests and the latency benchmark: a tiny trained policy, the
sim graph as separate processes, and a monitor node that records what crosses the wires."""
from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray

from dexpie_bringup.episodes import EpisodeClient
from dexpie_bringup.graph import GraphOptions, rollout_graph, sim_parameter_file
from dexpie_bringup.supervisor import GraphSupervisor
from dexpie_common import topics
from dexpie_common.messages import stamp_to_seconds
from dexpie_msgs.msg import InterventionState


def train_tiny_policy(task: str, out: Path, demos: int = 2, steps: int = 30) -> Path:
    """A small BC checkpoint trained on `demos` operator demonstrations (a few seconds)."""
    from dexpie_experiment.sim_collection import record_operator_demo
    from dexpie_learning.train.bc import BCConfig, train_bc
    from dexpie_sim.registry import make_operator, make_task
    from dexpie_sim.stages import StageLibrary
    sim = make_task(task)
    library = StageLibrary(sim, make_operator(task, sim, seed=0))
    operator = make_operator(task, sim, seed=1)
    for seed in range(demos):
        record_operator_demo(library, operator, seed, out / "demos")
    sim.close()
    config = BCConfig(steps=steps, hidden_size=64, num_layers=2, batch_size=32, horizon=8, save_every=steps)
    train_bc([out / "demos"], out / "policy", config, progress=False, torch_threads=1)
    return out / "policy"


class Transcript(io.StringIO):
    """The graph's output, kept for failure messages."""

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def write(self, text):
        with self._lock:
            return super().write(text)


@dataclass
class Wires:
    """Everything seen by the monitor, as (receive time, stamp, values) tuples."""
    hand_commands: list = field(default_factory=list)        # /hand/command
    controller_commands: list = field(default_factory=list)  # /hand_position_controller/commands
    states: list = field(default_factory=list)               # /intervention/state
    joint_states: list = field(default_factory=list)         # /joint_states
    policy_commands: list = field(default_factory=list)      # /policy/command
    holding: list = field(default_factory=list)              # /hand_controller/holding


class Monitor:
    """An in-test node recording the graph's wires; `client` runs episodes."""

    def __init__(self, joint_names: list[str]):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("graph_monitor", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.joint_names = joint_names
        self.wires = Wires()
        now = time.monotonic

        def ordered(msg):
            return np.array([msg.position[msg.name.index(n)] for n in joint_names]) \
                if list(msg.name) != joint_names else np.array(msg.position)

        sub = self.node.create_subscription
        sub(JointState, topics.HAND_COMMAND, lambda m: self.wires.hand_commands.append(
            (now(), stamp_to_seconds(m.header.stamp), ordered(m))), 100)
        sub(Float64MultiArray, topics.HAND_CONTROLLER_COMMANDS, lambda m: self.wires.controller_commands.append(
            (now(), None, np.array(m.data))), 100)
        sub(InterventionState, topics.INTERVENTION_STATE, lambda m: self.wires.states.append(
            (now(), stamp_to_seconds(m.header.stamp), (m.source, m.edge, m.reason, m.intervention_id, m.tick))), 100)
        sub(JointState, topics.JOINT_STATES, lambda m: self.wires.joint_states.append(
            (now(), stamp_to_seconds(m.header.stamp), None)), 100)
        sub(JointState, topics.POLICY_COMMAND, lambda m: self.wires.policy_commands.append(
            (now(), stamp_to_seconds(m.header.stamp), None)), 100)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        sub(Bool, topics.HAND_CONTROLLER_HOLDING, lambda m: self.wires.holding.append((now(), None, m.data)), latched)
        self.client = EpisodeClient(self.node, self.executor)

    def spin_until(self, predicate, timeout: float, what: str) -> None:
        self.client.spin_until(predicate, timeout, what)

    def close(self) -> None:
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def limits(task: str) -> dict:
    document = yaml.safe_load(Path(sim_parameter_file(task)).read_text())
    return {node: section["ros__parameters"] for node, section in document.items()}


def start_sim_graph(task: str, checkpoint: Path, output_dir: Path, log_dir: Path,
                    record: bool = True, operator: str = "rule", extra=(),
                    compose: str = "", clock: str = "lockstep") -> tuple[GraphSupervisor, Transcript]:
    """The rollout graph on the twin. clock="lockstep" (the graphs' default, and the tests'):
    what happens per tick does not depend on the machine's load; "wall": the real-time
    behaviour (latency and fault benchmarks)."""
    options = GraphOptions(task=task, checkpoint=str(checkpoint), sim=True, record=record,
                           output_dir=str(output_dir), operator=operator, extra_parameters=tuple(extra),
                           compose=compose, clock=clock)
    transcript = Transcript()
    supervisor = GraphSupervisor(rollout_graph(options), output=transcript, log_dir=log_dir).start()
    return supervisor, transcript
