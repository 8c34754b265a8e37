"""How the nodes run: the executor argument, `compose:=` and the node_container process.

The container is checked as a real process: two nodes in it, one executor, seen from outside
as the same graph (names, topics, a per-node remapping, a service), the arbiter's command
reaching the controller inside the process, timers ticking, and a clean exit on Ctrl-C; with
both executors. Every wait is on a message or a service."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from dexpie_bringup.graph import GraphOptions, graph_by_name, ros_arguments, sim_parameter_file
from dexpie_bringup.parameter_files import SCHEMAS
from dexpie_common import topics
from dexpie_common.messages import joint_state_msg
from dexpie_common.ros_parameters import check_parameter_overrides, declare_parameters
from dexpie_common.testing import spin_until
from dexpie_episode import read_episode

from graph_harness import Monitor, limits, start_sim_graph, train_tiny_policy

CHAIN = "hand_controller,intervention_arbiter,policy_server"


def test_compose_puts_the_named_nodes_in_one_container_with_their_own_values(tmp_path):
    options = GraphOptions(task="relocate", checkpoint=str(tmp_path), output_dir=str(tmp_path), compose=CHAIN,
                           executor="events")
    nodes = graph_by_name("rollout", options)
    assert [n.name for n in nodes] == ["hand_controller+intervention_arbiter+policy_server",
                                       "episode_recorder", "sim_hand", "sim_operator"]
    container = nodes[0]
    assert (container.package, container.executable) == ("dexpie_bringup", "node_container")
    assert container.arguments == ("hand_controller", "intervention_arbiter", "policy_server",
                                   "--executor", "events")
    args = ros_arguments(container)
    assert not any("__node" in a for a in args), "a node-name remap would rename every node in it"
    assert f"policy_server:checkpoint:='{tmp_path.resolve()}'" in args
    assert container.environment == nodes[1].environment and container.required
    # The separate default is unchanged: every node its own process, its own name.
    alone = graph_by_name("rollout", GraphOptions(task="relocate", checkpoint=str(tmp_path)))
    assert [n.executable for n in alone][:3] == ["hand_controller", "intervention_arbiter", "policy_server"]


def test_every_dexpie_node_gets_the_executor_and_bad_values_are_refused(tmp_path):
    nodes = graph_by_name("rollout", GraphOptions(checkpoint=str(tmp_path), rviz=True, executor="single"))
    for node in nodes:
        assert (node.arguments[-2:] == ("--executor", "single")) == (node.name != "rviz2"), node
    for options, message in [(dict(executor="asyncio"), "executor must be one of"),
                             (dict(compose="hand_controller"), "two or more distinct"),
                             (dict(compose="hand_controller,hand_controller"), "two or more distinct"),
                             (dict(compose="hand_controller,rviz2"), "two or more distinct")]:
        with pytest.raises(ValueError, match=message):
            GraphOptions(checkpoint="x", **options)
    with pytest.raises(ValueError, match=r"compose names \['policy_server'\], which this graph does not run"):
        graph_by_name("teleop", GraphOptions(compose=CHAIN))


def test_the_container_s_values_reach_the_right_node(tmp_path):
    """rcl resolves the container's arguments per node: each member gets the values addressed
    to it (rate_hz differs between two of them) and nothing it does not have."""
    options = GraphOptions(task="relocate", checkpoint=str(tmp_path), output_dir=str(tmp_path), compose=CHAIN,
                           extra_parameters=(("hand_controller", "rate_hz", 100.0),
                                             ("intervention_arbiter", "rate_hz", 50.0)))
    container = graph_by_name("rollout", options)[0]
    context = rclpy.Context()
    rclpy.init(args=ros_arguments(container), context=context)
    values = {}
    try:
        for member in container.members:
            node = rclpy.create_node(member.name, context=context)
            try:
                values[member.name] = declare_parameters(node, SCHEMAS[member.name])
                check_parameter_overrides(node)
            finally:
                node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert values["hand_controller"].rate_hz == 100.0 and values["intervention_arbiter"].rate_hz == 50.0
    assert values["policy_server"].checkpoint == str(tmp_path.resolve())


@pytest.fixture
def probe():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("container_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    yield node, executor
    node.destroy_node()
    rclpy.shutdown(context=context)


@pytest.mark.parametrize("executor", ["events", "single"])
def test_two_nodes_in_one_container_form_the_same_graph(probe, executor, tmp_path):
    node, spinner = probe
    params = yaml.safe_load(Path(sim_parameter_file("relocate")).read_text())
    names = params["hand_controller"]["ros__parameters"]["joint_names"]
    lower = np.array(params["hand_controller"]["ros__parameters"]["lower_limits"])
    upper = np.array(params["hand_controller"]["ros__parameters"]["upper_limits"])
    measured = (lower + upper) / 2
    remapped = "/remapped/controller_commands"
    command = [str(Path(sys.executable).parent / "node_container"), "hand_controller", "intervention_arbiter",
               "--executor", executor, "--ros-args", "--params-file", sim_parameter_file("relocate"),
               "-r", f"hand_controller:{topics.HAND_CONTROLLER_COMMANDS}:={remapped}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        hand, controller, markers = [], [], []
        node.create_subscription(JointState, topics.HAND_COMMAND, hand.append, 50)
        node.create_subscription(MarkerArray, topics.INTERVENTION_MARKERS, markers.append, 50)
        node.create_subscription(Float64MultiArray, remapped, controller.append, 50)
        joint_states = node.create_publisher(JointState, topics.JOINT_STATES, 10)
        stamps = []

        def publish_joint_states():
            stamp = node.get_clock().now().to_msg()
            stamps.append((stamp.sec, stamp.nanosec))
            joint_states.publish(joint_state_msg(names, measured, stamp))

        node.create_timer(0.02, publish_joint_states)
        assert spin_until(spinner, lambda: {"hand_controller", "intervention_arbiter"}
                          <= set(node.get_node_names()), 60), "both nodes on the graph"
        # Ticks: the arbiter (holding: no policy) answers /joint_states with /hand/command
        # carrying its stamp; the controller, in the same process, forwards it to the
        # remapped controller topic; its watchdog timer keeps the hold going.
        # The markers go out from their own (guard condition) callback after each tick.
        # Ticks answer /joint_states with its stamp; before the subscription is matched, or on a
        # busy machine with a /joint_states late by 1.5 periods, the arbiter's fallback timer
        # ticks too (stamped by its clock), so not every command carries an observation's
        # stamp: wait for 5 that do (a condition, not a count of messages that races).
        def answered() -> int:
            published = set(stamps)
            return sum((m.header.stamp.sec, m.header.stamp.nanosec) in published for m in hand)

        assert spin_until(spinner, lambda: answered() >= 5 and len(controller) >= 10
                          and len(markers) >= 10, 60), \
            (f"{len(hand)} hand commands ({answered()} answering /joint_states), "
             f"{len(controller)} controller commands, {len(markers)} markers")
        hand_stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in hand]
        assert len(set(hand_stamps)) == len(hand_stamps), "a stamp answered twice"
        np.testing.assert_allclose(controller[-1].data, measured, atol=1e-9)
        publishers = {name for name, _ in node.get_publisher_names_and_types_by_node(
            "hand_controller", "/")}
        assert remapped in publishers and topics.HAND_CONTROLLER_COMMANDS not in publishers
        assert topics.HAND_COMMAND in {name for name, _ in node.get_publisher_names_and_types_by_node(
            "intervention_arbiter", "/")}
        client = node.create_client(Trigger, topics.HAND_CONTROLLER_ESTOP_SERVICE)
        assert spin_until(spinner, client.service_is_ready, 30)
        future = client.call_async(Trigger.Request())
        assert spin_until(spinner, future.done, 30) and future.result().success
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0] + "\n(did not exit on SIGINT)"
    assert process.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]


def test_realtime_priority_goes_to_the_chain_nodes_only_and_is_checked(tmp_path):
    nodes = graph_by_name("rollout", GraphOptions(checkpoint=str(tmp_path), realtime_priority="30",
                                                  compose="hand_controller,intervention_arbiter"))
    flagged = {n.name for n in nodes if "--realtime-priority" in n.arguments}
    assert flagged == {"hand_controller+intervention_arbiter", "policy_server"}
    assert nodes[0].arguments[-2:] == ("--realtime-priority", "30")
    assert not any("--realtime-priority" in n.arguments for n in graph_by_name(
        "rollout", GraphOptions(checkpoint=str(tmp_path))))
    for bad in ("-1", "100", "high"):
        with pytest.raises(ValueError, match="realtime_priority must be an integer in 0..99"):
            GraphOptions(checkpoint="x", realtime_priority=bad)


def _policy(pid: int, tid: int) -> int:
    """The scheduling policy of one thread (field 41 of /proc/<pid>/task/<tid>/stat)."""
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[38])


def test_realtime_priority_puts_only_the_executor_thread_under_sched_fifo(probe):
    node, spinner = probe
    command = [str(Path(sys.executable).parent / "hand_controller"), "--realtime-priority", "1", "--ros-args",
               "--params-file", sim_parameter_file("relocate")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert spin_until(spinner, lambda: "hand_controller" in node.get_node_names(), 60)
        client = node.create_client(Trigger, topics.HAND_CONTROLLER_RESET_ESTOP_SERVICE)
        assert spin_until(spinner, client.service_is_ready, 30)
        future = client.call_async(Trigger.Request())   # answered: the executor runs
        assert spin_until(spinner, future.done, 30)
        threads = [int(t) for t in os.listdir(f"/proc/{process.pid}/task")]
        policies = {tid: _policy(process.pid, tid) for tid in threads}
        names = {tid: Path(f"/proc/{process.pid}/task/{tid}/comm").read_text().strip() for tid in threads}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0] + "\n(did not exit on SIGINT)"
    assert process.returncode == 0, output[-3000:]
    if "cannot run the executor thread under SCHED_FIFO priority 1" in output:
        assert policies[process.pid] == os.SCHED_OTHER    # not permitted here: said so, runs normally
    else:
        assert "executor thread under SCHED_FIFO priority 1" in output, output[-3000:]
        assert policies[process.pid] == os.SCHED_FIFO
        # The middleware's threads, started before, keep the normal scheduler.
        middleware = [policies[tid] for tid, name in names.items() if name.startswith("dds.")]
        assert middleware and all(policy == os.SCHED_OTHER for policy in middleware), (policies, names)


@pytest.mark.parametrize("arguments, message", [
    (["juggler"], "[FATAL] node_container cannot run 'juggler'"),
    (["--executor", "asyncio", "hand_controller"], "[FATAL] --executor must be one of"),
    ([], "[FATAL] node_container needs distinct node executables"),
    (["--realtime-priority", "120", "hand_controller"], "[FATAL] --realtime-priority must be an integer in 0..99"),
])
def test_a_container_that_cannot_start_says_why_in_one_line(arguments, message):
    command = [str(Path(sys.executable).parent / "node_container"), *arguments, "--ros-args",
               "--params-file", sim_parameter_file("relocate")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_the_composed_rollout_graph_drives_the_twin_and_is_recorded(tmp_path):
    """compose:= the chain, on the twin: the policy controls the hand through the container,
    the recorder (its own process) records the episode from the container's topics."""
    checkpoint = train_tiny_policy("relocate", tmp_path)
    supervisor, transcript = start_sim_graph("relocate", checkpoint, tmp_path / "episodes", tmp_path / "logs",
                                             operator="never", compose=CHAIN)
    monitor = Monitor(limits("relocate")["hand_controller"]["joint_names"])
    try:
        monitor.spin_until(lambda: len(monitor.wires.policy_commands) >= 5 and len(monitor.wires.states) >= 5,
                           180, "the policy's first commands and the arbiter's ticks")
        assert "hand_controller+intervention_arbiter+policy_server" in supervisor.managed
        assert {"hand_controller", "intervention_arbiter", "policy_server"} <= set(monitor.node.get_node_names())
        result = monitor.client.run_episode("relocate", "init", seed=3, max_ticks=30, timeout=180)
        episode = read_episode(result.bag_path)
        assert len(episode.intervention) >= 25 and not np.any(episode.intervention)
        assert len(monitor.wires.controller_commands) >= 30 and not supervisor.dead()
    finally:
        monitor.close()
        codes = supervisor.stop()
    assert all(code == 0 for code in codes.values()), (codes, transcript.getvalue()[-5000:])
