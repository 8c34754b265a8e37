"""The entry point every DexPIE node uses: init, spin, and a clean shutdown on Ctrl-C/SIGTERM.

rclpy (Jazzy) installs handlers for SIGINT and SIGTERM that shut the context down; spinning
then raises ExternalShutdownException, which is the normal way out here, not an error. A
node that cannot start (bad parameter, missing checkpoint) logs one clear line and exits 2;
so does one given a parameter it does not have (a misspelt name in its parameters file or a
`-p`: `ros_parameters.check_parameter_overrides`, once the node has declared everything).

The executor (`--executor` before `--ros-args`, default `events`):
- `events`: rclpy's EventsExecutor (C++; the middleware's listeners queue each event, and a
  callback runs without the Python executor rebuilding and scanning a wait set of every
  subscription, timer, service and parameter service of the node on each wake-up, which
  took most of hand_controller's and intervention_arbiter's time per control tick:
  benchmarks/control_tick_profile.py). Jazzy's EventsExecutor.spin() dispatches nothing
  (rclpy 7.1.6: timers, services and subscriptions stay silent and shutdown does not wake
  it), so it is spun with spin_once in a loop, which does. It also fails callbacks that take
  the message info (SystemError); no node here uses them.
- `single`: rclpy's SingleThreadedExecutor (the Python executor every node used before).

`run_nodes` spins several nodes in one process on one executor (`dexpie_bringup`'s
node_container: the ROS 2 composition of Python nodes); each keeps its own name,
parameters, topics and services.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.utilities import remove_ros_args

from dexpie_common.parameters import ParameterError
from dexpie_common.ros_parameters import check_parameter_overrides

EXIT_CONFIGURATION_ERROR = 2
EXECUTORS = ("events", "single")
DEFAULT_EXECUTOR = "events"
_EVENTS_SPIN_TIMEOUT = 0.5   # seconds per spin_once; shutdown wakes it earlier


class NodeStartupError(RuntimeError):
    """A node cannot start; the message says why (shown without a traceback)."""


def executor_option(args: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """`--executor KIND` from the arguments before/around `--ros-args` (default: sys.argv);
    returns the kind and the remaining non-ROS arguments. Raises NodeStartupError for an
    unknown kind."""
    argv = list(sys.argv if args is None else args)
    plain = remove_ros_args(argv)[1:]
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--executor", default=DEFAULT_EXECUTOR)
    known, rest = parser.parse_known_args(plain)
    if known.executor not in EXECUTORS:
        raise NodeStartupError(f"--executor must be one of {list(EXECUTORS)}, got {known.executor!r}")
    return known.executor, rest


def make_executor(kind: str, context=None, threads: int = 1):
    """The executor of `kind` for `context` (threads > 1: a MultiThreadedExecutor)."""
    if threads > 1:
        return MultiThreadedExecutor(num_threads=threads, context=context)
    if kind == "events":
        from rclpy.experimental.events_executor import EventsExecutor
        return EventsExecutor(context=context)
    if kind == "single":
        return SingleThreadedExecutor(context=context)
    raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {kind!r}")


def spin(executor, kind: str, context=None) -> None:
    """Spin until the context shuts down (ExternalShutdownException on Ctrl-C/SIGTERM)."""
    if kind == "events":
        context = context or rclpy.get_default_context()
        while context.ok():
            executor.spin_once(timeout_sec=_EVENTS_SPIN_TIMEOUT)
    else:
        executor.spin()


def run_node(make_node: Callable[[], Node], args=None, threads: int = 1) -> int:
    """Create the node with `make_node()` and spin it until shutdown; returns the exit code.

    threads > 1 spins a MultiThreadedExecutor (for nodes with reentrant callback groups);
    otherwise `--executor` picks the executor (module docstring).
    """
    return run_nodes([make_node], args, threads)


def run_nodes(makers: Sequence[Callable[[], Node]], args=None, threads: int = 1) -> int:
    """Create every node (in order) and spin them all on one executor until shutdown; returns
    the exit code (2 and one [FATAL] line when one cannot start: none of them runs then)."""
    try:
        kind, _ = executor_option(args)
    except NodeStartupError as error:
        print(f"[FATAL] {error}", file=sys.stderr, flush=True)
        return EXIT_CONFIGURATION_ERROR
    rclpy.init(args=args)
    nodes: list[Node] = []
    code = 0
    try:
        for make_node in makers:
            nodes.append(make_node())
            check_parameter_overrides(nodes[-1])
        executor = make_executor(kind, threads=threads)
        for node in nodes:
            executor.add_node(node)
        try:
            spin(executor, kind if threads == 1 else "single")
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
        for node in reversed(nodes):
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return code
