"""`dexpie-launch <graph> [name:=value ...]`: start a DexPIE graph without the `launch` package.

The arguments are those of the launch files, in the same `name:=value` form:

    dexpie-launch rollout task:=relocate checkpoint:=runs/latest/policies/relocate_bc
    ros2 launch dexpie_bringup rollout.launch.py task:=relocate checkpoint:=...   # same graph

Both build the graph from `dexpie_bringup.graph`. The launcher runs until Ctrl-C/SIGTERM or
until a required node exits (then it stops the others and exits 1).

Every node discovers only this host (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) unless the
graph opts into the lab network with `network:=subnet domain_id:=<N>` (docs/lab_network.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys
import threading

from dexpie_bringup.graph import GraphOptions, graph_by_name
from dexpie_bringup.supervisor import ExecutableNotFound, GraphSupervisor, command_line

_FIELDS = {f.name: f for f in dataclasses.fields(GraphOptions) if f.name != "extra_parameters"}


def parse_launch_arguments(pairs: list[str]) -> GraphOptions:
    """`name:=value` pairs -> GraphOptions (bools accept true/false/1/0)."""
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition(":=")
        if not sep:
            raise ValueError(f"launch arguments are name:=value, got {pair!r}")
        if name not in _FIELDS:
            raise ValueError(f"unknown launch argument {name!r}; known: {sorted(_FIELDS)}")
        if _FIELDS[name].type in (bool, "bool"):
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(f"{name} must be true or false, got {text!r}")
            values[name] = lowered in ("true", "1")
        else:
            values[name] = text
    return GraphOptions(**values)


def show_arguments() -> str:
    """The launch arguments as `ros2 launch ... --show-args` lists them."""
    lines = ["Arguments (pass arguments as '<name>:=<value>'):", ""]
    for field in _FIELDS.values():
        default = str(field.default).lower() if isinstance(field.default, bool) else field.default
        lines += [f"    '{field.name}':", f"        {field.metadata['help']}",
                  f"        (default: '{default}')", ""]
    return "\n".join(lines).rstrip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dexpie-launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("graph", choices=["rollout", "teleop"])
    parser.add_argument("arguments", nargs="*", metavar="name:=value",
                        help=f"launch arguments: {', '.join(sorted(_FIELDS))}")
    parser.add_argument("--dry-run", action="store_true", help="print the command lines and exit")
    parser.add_argument("--show-args", action="store_true",
                        help="print the launch arguments with their defaults and descriptions and exit")
    parser.add_argument("--log-dir", default=None, help="also write each node's output to <dir>/<node>.log")
    args = parser.parse_args(argv)
    if args.show_args:
        print(show_arguments())
        return 0
    try:
        options = parse_launch_arguments(args.arguments)
        nodes = graph_by_name(args.graph, options)
    except ValueError as error:
        parser.error(str(error))
    if args.dry_run:
        for node in nodes:
            try:
                print(" ".join([f"{name}={shlex.quote(value)}" for name, value in node.environment]
                               + command_line(node)))
            except ExecutableNotFound as error:
                print(f"# {node.name}: {error}")
        return 0
    stop = threading.Event()
    failed = {}

    def on_exit(name, code):
        failed[name] = code
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor = GraphSupervisor(nodes, log_dir=args.log_dir, on_exit=on_exit)
    try:
        supervisor.start()
        stop.wait()
    finally:
        codes = supervisor.stop()
    if failed:
        print(f"[launcher] stopped the graph because {sorted(failed)} exited ({failed})", file=sys.stderr)
        return 1
    print(f"[launcher] graph stopped: {codes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
