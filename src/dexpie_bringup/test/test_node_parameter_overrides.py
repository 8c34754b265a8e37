"""Every node refuses a parameter it does not have, and a value of the wrong type or a device
this machine lacks, as one line at start-up; the graphs' own parameters are all known."""
import subprocess
import sys
from pathlib import Path

import pytest
import rclpy
import yaml

from dexpie_bringup.graph import GraphOptions, graph_by_name, ros_arguments, sim_parameter_file
from dexpie_bringup.parameter_files import SCHEMAS
from dexpie_common.ros_parameters import check_parameter_overrides, declare_parameters
from dexpie_sim.registry import TASK_NAMES


@pytest.mark.parametrize("graph", ["rollout", "teleop"])
@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_node_of_the_graphs_knows_every_parameter_it_is_given(graph, task, tmp_path):
    options = GraphOptions(task=task, checkpoint=str(tmp_path), output_dir=str(tmp_path))
    for launch in graph_by_name(graph, options):
        if launch.name not in SCHEMAS:
            continue   # rviz2
        context = rclpy.Context()
        rclpy.init(args=ros_arguments(launch), context=context)
        node = rclpy.create_node(launch.name, context=context)
        try:
            declare_parameters(node, SCHEMAS[launch.name])
            check_parameter_overrides(node)   # the '/**' hand block is allowed, nothing else extra
        finally:
            node.destroy_node()
            rclpy.shutdown(context=context)


def start_node(executable: str, params: dict, tmp_path: Path, *extra: str):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    command = [str(Path(sys.executable).parent / executable), "--ros-args", "--params-file", str(path),
               *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def sim_file_with(node: str, **changes) -> dict:
    document = yaml.safe_load(Path(sim_parameter_file("relocate")).read_text())
    document[node]["ros__parameters"].update(changes)
    return document


@pytest.mark.parametrize("executable, params, extra, message", [
    ("hand_controller", sim_file_with("hand_controller", watchdog_timout=0.2), (),
     "[FATAL] node hand_controller: unknown parameter(s) 'watchdog_timout' (did you mean "
     "'watchdog_timeout'?) in its parameters file or -p; it has ["),
    ("hand_controller", sim_file_with("hand_controller", rate_hz="fast"), (),
     "[FATAL] hand_controller: parameter 'rate_hz' must be float, got 'fast' (str)"),
    ("policy_server", sim_file_with("policy_server", device="cuda:7"), ("-p", "checkpoint:=/nowhere"),
     "[FATAL] policy_server: parameter 'device' = 'cuda:7' rejected: device 'cuda:7': "),
])
def test_a_node_given_a_bad_parameter_exits_with_one_line(executable, params, extra, message, tmp_path):
    result = start_node(executable, params, tmp_path, *extra)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    # One error line (a node may have logged its INFO start-up line before the check ran).
    errors = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("[INFO]")]
    assert len(errors) == 1 and errors[0].startswith(message), result.stderr
