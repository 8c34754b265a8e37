"""Start a graph of `NodeLaunch`es as processes, watch them, and shut them down cleanly.

The pip-installed ROS 2 runtime has no `launch` package; this is the small part of it the
project needs: spawn each executable with its `--ros-args`, prefix its output with the node
name, report a process that dies, restart one on request (fault tests, respawn), and stop
everything on Ctrl-C or SIGTERM: SIGINT first (rclpy shuts down cleanly, the recorder
closes its bag), then SIGTERM, then SIGKILL for a process that does not exit in time.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from dexpie_bringup.graph import NodeLaunch, ros_arguments


class ExecutableNotFound(FileNotFoundError):
    pass


def find_executable(package: str, executable: str) -> str:
    """`<prefix>/lib/<package>/<executable>` (ament layout), else the venv's bin/, else PATH."""
    prefix = Path(sys.prefix)
    candidates = [prefix / "lib" / package / executable, Path(sys.executable).parent / executable]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(executable)
    if found:
        return found
    raise ExecutableNotFound(f"executable {executable!r} of package {package!r} not found in "
                             f"{[str(c) for c in candidates]} or on PATH")


def command_line(node: NodeLaunch) -> list[str]:
    return [find_executable(node.package, node.executable), *node.arguments, *ros_arguments(node)]


@dataclass
class Managed:
    node: NodeLaunch
    process: subprocess.Popen | None = None
    exit_code: int | None = None
    restarts: int = 0
    pump: threading.Thread | None = None   # copies the process's output (to the transcript, the log)


class GraphSupervisor:
    """Runs the processes of one graph. Use as a context manager or call start()/stop().

    output: where the prefixed lines of every process go (None: this process's stdout).
    log_dir: when given, each node's output is also written to `<log_dir>/<name>.log`.
    """

    def __init__(self, nodes: list[NodeLaunch], output: TextIO | None = None,
                 log_dir: Path | None = None, env: dict | None = None,
                 on_exit: Callable[[str, int], None] | None = None):
        names = [n.name for n in nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique, got {names}")
        self.managed = {n.name: Managed(n) for n in nodes}
        self.output = output or sys.stdout
        self.log_dir = Path(log_dir) if log_dir else None
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.on_exit = on_exit
        self._lock = threading.Lock()
        self._stopping = False

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> "GraphSupervisor":
        for name, managed in self.managed.items():
            if not managed.node.required:
                try:
                    find_executable(managed.node.package, managed.node.executable)
                except ExecutableNotFound as error:
                    self._say("launcher", f"skipping optional {name}: {error}")
                    continue
            self._spawn(managed)
        return self

    def _spawn(self, managed: Managed) -> None:
        argv = command_line(managed.node)
        # The node's own variables (its discovery settings, graph.network_environment) win.
        env = {**self.env, **dict(managed.node.environment)}
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=env, text=True, bufsize=1, start_new_session=True)
        managed.process, managed.exit_code = process, None
        log = None
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = open(self.log_dir / f"{managed.node.name}.log", "a")
        managed.pump = threading.Thread(target=self._pump, args=(managed, process, log), daemon=True)
        managed.pump.start()

    def _pump(self, managed: Managed, process: subprocess.Popen, log) -> None:
        name = managed.node.name
        for line in process.stdout:
            self._say(name, line.rstrip("\n"))
            if log:
                log.write(line)
                log.flush()
        code = process.wait()
        if log:
            log.close()
        with self._lock:
            if managed.process is process:
                managed.exit_code = code
        if not self._stopping:
            self._say("launcher", f"{name} exited with code {code}")
            if self.on_exit and managed.node.required and not managed.node.respawn:
                self.on_exit(name, code)
            if managed.node.respawn and managed.process is process:
                managed.restarts += 1
                self._spawn(managed)

    def _say(self, name: str, text: str) -> None:
        with self._lock:
            self.output.write(f"[{name}] {text}\n")
            self.output.flush()

    def running(self, name: str) -> bool:
        process = self.managed[name].process
        return process is not None and process.poll() is None

    def dead(self) -> dict[str, int]:
        """Required nodes that have exited, with their exit codes."""
        return {name: m.process.poll() for name, m in self.managed.items()
                if m.node.required and m.process is not None and m.process.poll() is not None}

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to one node (fault injection) and wait for it to exit."""
        process = self.managed[name].process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=10)

    def restart(self, name: str) -> None:
        managed = self.managed[name]
        if self.running(name):
            self._stop_one(managed, timeout=5.0)
        managed.restarts += 1
        self._spawn(managed)

    def _stop_one(self, managed: Managed, timeout: float) -> None:
        process = managed.process
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                self._say("launcher", f"{managed.node.name} ignored {signal.Signals(sig).name}")

    def stop(self, timeout: float = 10.0) -> dict[str, int | None]:
        """SIGINT every node (in reverse start order), escalate if needed; exit codes by name."""
        self._stopping = True
        for managed in reversed(list(self.managed.values())):
            process = managed.process
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for managed in self.managed.values():
            process = managed.process
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._stop_one(managed, timeout=0.1)
        # The last lines a node wrote (its shutdown messages) are in the transcript and its
        # log file when stop() returns, not still in a pipe.
        for managed in self.managed.values():
            if managed.pump is not None:
                managed.pump.join(timeout=max(1.0, deadline - time.monotonic()))
        return {name: (m.process.poll() if m.process else None) for name, m in self.managed.items()}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
