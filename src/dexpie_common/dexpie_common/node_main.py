"""The entry point every DexPIE node uses: init, spin, and a clean shutdown on Ctrl-C/SIGTERM.

rclpy (Jazzy) installs handlers for SIGINT and SIGTERM that shut the context down; spinning
then raises ExternalShutdownException, which is the normal way out here, not an error. A
node that cannot start (bad parameter, missing checkpoint) logs one clear line and exits 2;
so does one given a parameter it does not have (a misspelt name in its parameters file or a
`-p`: `ros_parameters.check_parameter_overrides`, once the node has declared everything).

The executor (`--executor` before `--ros-args`, default `single`):
- `events`: rclpy's EventsExecutor (C++; the middleware's listeners queue each event, and a
  callback runs without the Python executor rebuilding and scanning a wait set of every
  subscription, timer, service and parameter service of the node on each wake-up, which
  took most of hand_controller's and intervention_arbiter's time per control tick:
  benchmarks/control_tick_profile.py). Jazzy's EventsExecutor.spin() dispatches nothing
  (rclpy 7.1.6: timers, services and subscriptions stay silent and shutdown does not wake
  it), so it is spun with spin_once in a loop, which does. It also fails callbacks that take
  the message info (SystemError); no node here uses them.
- `single`: rclpy's SingleThreadedExecutor (the Python executor every node used before).

`--realtime-priority N` (1..99; default 0: off) runs the thread that spins the executor (the
one that runs every callback) under SCHED_FIFO at priority N, as ros2_control's
controller_manager runs its loop: on a busy machine a control tick is then not queued behind
other processes that wake at the same moment (the twin, the recorder, RViz). The threads
started before it is set (the middleware's, the policy's inference thread) keep the normal
scheduler; those started later by the executor (the EventsExecutor's timer thread) inherit it. Without the right (CAP_SYS_NICE or an rtprio limit >= N, see `ulimit -r`)
the node says so in one warning line and runs at normal priority.

`run_nodes` spins several nodes in one process on one executor (`dexpie_bringup`'s
node_container: the ROS 2 composition of Python nodes); each keeps its own name,
parameters, topics and services.
"""
from __future__ import annotations

import argparse
import os
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
# The long-proven executor stays the default: in a fresh-clone suite run with `events` the
# default, the teleop graph's recorder once received no /intervention/state tick for a whole
# episode (unexplained), and rclpy 7.1.6's EventsExecutor has the bugs listed above. `events`
# (with compose / realtime_priority) is what benchmarks/control_chain_latency.py measured.
DEFAULT_EXECUTOR = "single"
MAX_REALTIME_PRIORITY = 99
_EVENTS_SPIN_TIMEOUT = 0.5   # seconds per spin_once; shutdown wakes it earlier


class NodeStartupError(RuntimeError):
    """A node cannot start; the message says why (shown without a traceback)."""


def run_options(args: Sequence[str] | None = None) -> tuple[str, int, list[str]]:
    """`--executor KIND` and `--realtime-priority N` from the arguments outside `--ros-args`
    (default: sys.argv); returns them and the remaining plain arguments. Raises
    NodeStartupError for an unknown kind or a priority outside 0..99."""
    argv = list(sys.argv if args is None else args)
    plain = remove_ros_args(argv)[1:]
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--executor", default=DEFAULT_EXECUTOR)
    parser.add_argument("--realtime-priority", default="0")
    known, rest = parser.parse_known_args(plain)
    if known.executor not in EXECUTORS:
        raise NodeStartupError(f"--executor must be one of {list(EXECUTORS)}, got {known.executor!r}")
    priority = known.realtime_priority
    if not (priority.isdigit() and int(priority) <= MAX_REALTIME_PRIORITY):
        raise NodeStartupError(f"--realtime-priority must be an integer in 0..{MAX_REALTIME_PRIORITY} "
                               f"(0: normal scheduling), got {priority!r}")
    return known.executor, int(priority), rest


def set_realtime_priority(priority: int) -> str | None:
    """Run the calling thread under SCHED_FIFO at `priority` (0: leave it); returns None, or
    why it could not."""
    if priority <= 0:
        return None
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError, AttributeError) as error:
        return (f"cannot run the executor thread under SCHED_FIFO priority {priority} ({error}; it "
                f"needs CAP_SYS_NICE or an rtprio limit >= {priority}, see `ulimit -r`): normal priority")
    return None


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
        kind, priority, _ = run_options(args)
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
        problem = set_realtime_priority(priority if threads == 1 else 0)
        if problem:
            nodes[0].get_logger().warning(problem)
        elif priority and threads == 1:
            nodes[0].get_logger().info(f"executor thread under SCHED_FIFO priority {priority}")
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
        # Not `if ok(): shutdown()`: a SIGINT between the two shut the context down first.
        rclpy.try_shutdown()
    return code
