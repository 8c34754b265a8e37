"""`node_container`: several DexPIE nodes in one process, spun by one executor.

    ros2 run dexpie_bringup node_container hand_controller intervention_arbiter \
        [--executor events|single] [--realtime-priority N] --ros-args --params-file sim_relocate.yaml \
        -p hand_controller:rate_hz:=100.0

What ROS 2 composition (rclcpp_components' component_container) does for C++ nodes, for the
Python nodes of this project: each node is built as its own executable would build it (same
class, same name, same parameters from the files' sections and the `-p <node>:<name>:=`
values addressed to it, same topics and services), and one executor
(`dexpie_common.node_main.run_nodes`) runs every callback of every node. A message from one
of them to another stays in the process: Fast DDS hands it over inside the participant the
nodes share, without the shared-memory transport and without waking another process.
`dexpie-launch <graph> compose:=<node>,<node>` (graph.py) starts it; its nodes are those of
`graph.COMPOSABLE`.

No `-r __node:=...` here: in one process it would rename every node.
"""
from __future__ import annotations

import importlib
import sys

from rclpy.utilities import remove_ros_args

from dexpie_bringup.graph import COMPOSABLE
from dexpie_common.node_main import EXIT_CONFIGURATION_ERROR, NodeStartupError, run_nodes, run_options


def node_factory(executable: str):
    """The node class `executable` would run (a callable building the node)."""
    if executable not in COMPOSABLE:
        raise NodeStartupError(f"node_container cannot run {executable!r}; it runs {sorted(COMPOSABLE)}")
    module, _, name = COMPOSABLE[executable].partition(":")
    return getattr(importlib.import_module(module), name)


def main(args=None) -> int:
    argv = list(sys.argv if args is None else args)
    try:
        _, _, executables = run_options(argv)
        if not executables or len(set(executables)) != len(executables):
            raise NodeStartupError(f"node_container needs distinct node executables to run, got "
                                   f"{remove_ros_args(argv)[1:]}")
        makers = [node_factory(executable) for executable in executables]
    except NodeStartupError as error:
        print(f"[FATAL] {error}", file=sys.stderr, flush=True)
        return EXIT_CONFIGURATION_ERROR
    return run_nodes(makers, argv)


if __name__ == "__main__":
    sys.exit(main())
