"""The entry point every DexPIE node uses: init, spin, and a clean shutdown on Ctrl-C/SIGTERM.

rclpy (Jazzy) installs handlers for SIGINT and SIGTERM that shut the context down; spinning
then raises ExternalShutdownException, which is the normal way out here, not an error. A
node that cannot start (bad parameter, missing checkpoint) logs one clear line and exits 2;
so does one given a parameter it does not have (a misspelt name in its parameters file or a
`-p`: `ros_parameters.check_parameter_overrides`, once the node has declared everything).
"""
from __future__ import annotations

import sys
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from dexpie_common.parameters import ParameterError
from dexpie_common.ros_parameters import check_parameter_overrides

EXIT_CONFIGURATION_ERROR = 2


class NodeStartupError(RuntimeError):
    """A node cannot start; the message says why (shown without a traceback)."""


def run_node(make_node: Callable[[], Node], args=None, threads: int = 1) -> int:
    """Create the node with `make_node()` and spin it until shutdown; returns the exit code.

    threads > 1 spins a MultiThreadedExecutor (for nodes with reentrant callback groups).
    """
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = make_node()
        check_parameter_overrides(node)
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        try:
            executor.spin()
        finally:
            executor.shutdown()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ParameterError, NodeStartupError) as error:
        print(f"[FATAL] {error}", file=sys.stderr, flush=True)
        code = EXIT_CONFIGURATION_ERROR
    except Exception:
        # A callback running when Ctrl-C/SIGTERM shuts the context down fails on its next
        # publish ("context is invalid"): that is the shutdown, not an error.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return code
