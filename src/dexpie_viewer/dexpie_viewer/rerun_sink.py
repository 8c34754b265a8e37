"""The Rerun side of the live view: the local server (web viewer + data), the panel layout,
and `RerunSink`, which logs `streams.Record`s to a Rerun recording.

The server is the `rerun` executable of the rerun-sdk wheel (`rerun --serve-web`): it serves
the web viewer (HTML + Wasm, shipped in the wheel: no internet needed) and a gRPC proxy
that keeps the logged data (up to `memory_limit`) for browsers that connect late. Both
listen on `bind` only: 127.0.0.1 by default, so nobody else on the lab network sees the
hand's data. A non-loopback `bind` (e.g. 0.0.0.0) opens both to other hosts and lets a
viewer page served from another host name (any host, port `web_port`) read the data.

No rclpy, no message packages.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

import numpy as np

from dexpie_viewer import streams
from dexpie_viewer.streams import Record

TIMELINE = "stamp"          # the messages' header stamps
APPLICATION_ID = "dexpie"
DEFAULT_BIND = "127.0.0.1"
DEFAULT_WEB_PORT = 9090
DEFAULT_GRPC_PORT = 9876

# Colours of the joint plots: measured, commanded, planned.
POSITION_COLOUR = (90, 160, 255)
COMMAND_COLOUR = (255, 160, 40)
PLAN_COLOUR = (60, 220, 120)
SOURCE_COLOUR = (230, 80, 200)


def is_loopback(bind: str) -> bool:
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return bind == "localhost"


def url_host(bind: str) -> str:
    """The host name a browser uses to reach a server bound to `bind`."""
    if is_loopback(bind):
        return "127.0.0.1"
    if bind in ("0.0.0.0", "::"):
        return socket.gethostname()
    return bind


def grpc_url(host: str, grpc_port: int) -> str:
    return f"rerun+http://{host}:{grpc_port}/proxy"


def viewer_url(bind: str, web_port: int, grpc_port: int) -> str:
    """The page to open: the web viewer, told where the data is."""
    host = url_host(bind)
    return f"http://{host}:{web_port}/?url={quote(grpc_url(host, grpc_port), safe='')}"


def rerun_executable() -> str:
    """The `rerun` binary of the installed rerun-sdk wheel (RERUN_CLI_PATH overrides it)."""
    if os.environ.get("RERUN_CLI_PATH"):
        return os.environ["RERUN_CLI_PATH"]
    import rerun_cli
    return str(Path(rerun_cli.__file__).resolve().parent / "rerun")


def server_command(bind: str, web_port: int, grpc_port: int, memory_limit: str) -> list[str]:
    command = [rerun_executable(), "--serve-web", "--bind", bind, "--port", str(grpc_port),
               "--web-viewer-port", str(web_port), "--server-memory-limit", memory_limit]
    if not is_loopback(bind):
        command += ["--cors-allow-origin", f"http://*:{web_port}"]
    return command


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _die_with_parent() -> None:
    """In the child: SIGTERM when the process that started it dies (Linux), so a killed node
    leaves no server holding its ports."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except OSError:
        pass


class ViewerServerError(RuntimeError):
    pass


class RerunServer:
    """`rerun --serve-web` as a child process; `close()` stops it."""

    def __init__(self, bind: str = DEFAULT_BIND, web_port: int = DEFAULT_WEB_PORT,
                 grpc_port: int = DEFAULT_GRPC_PORT, memory_limit: str = "1GiB",
                 start_timeout: float = 30.0, log_path: str | None = None):
        self.bind, self.web_port, self.grpc_port = bind, int(web_port), int(grpc_port)
        self.url = viewer_url(bind, self.web_port, self.grpc_port)
        self.grpc_url = grpc_url("127.0.0.1" if is_loopback(bind) or bind in ("0.0.0.0", "::") else bind,
                                 self.grpc_port)
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(server_command(bind, self.web_port, self.grpc_port, memory_limit),
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                            preexec_fn=_die_with_parent,
                                            # its own session: a Ctrl-C meant for the node (the
                                            # terminal's process group) must not stop it before
                                            # the node has flushed; the node stops it (close()).
                                            start_new_session=True)
        finally:
            if log_path:
                out.close()
        local = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind
        for port in (self.grpc_port, self.web_port):
            if not wait_for_port(local, port, start_timeout) or self.process.poll() is not None:
                code = self.process.poll()
                self.close()
                raise ViewerServerError(
                    f"the Rerun server did not start on {bind}:{port} within {start_timeout:.0f} s"
                    + (f" (exited {code}; is the port in use?)" if code is not None else ""))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def blueprint(joints: Iterable[str], cameras: Iterable[str] = ()):
    """The panels: camera, status and log on the left; control source and joint plots on the right."""
    import rerun.blueprint as rrb
    cameras = list(cameras)
    left = ([rrb.Spatial2DView(origin=streams.camera_path(c), name=f"camera {c}") for c in cameras]
            or [rrb.Spatial2DView(origin="camera", name="camera")])
    left += [rrb.TextDocumentView(origin=streams.STATUS_PATH, name="status"),
             rrb.TextLogView(origin="/", contents=[streams.EVENTS_PATH, streams.EDGES_PATH],
                             name="episode events and control edges")]
    plots = [rrb.TimeSeriesView(origin=f"joints/{joint}", name=f"{joint}: position, command, plan")
             for joint in joints]
    right = [rrb.TimeSeriesView(origin=streams.SOURCE_PATH, name="in control: 0 policy, 1 human, 2 hold"),
             rrb.Grid(*plots)]
    return rrb.Blueprint(rrb.Horizontal(rrb.Vertical(*left, row_shares=[3] * len(left[:-2]) + [1, 2]),
                                        rrb.Vertical(*right, row_shares=[1, 3]), column_shares=[2, 3]),
                         collapse_panels=True)


class RerunSink:
    """Logs `Record`s to `recording` (a rerun.RecordingStream), styles the series once."""

    def __init__(self, recording, joints: Iterable[str]):
        import rerun as rr
        self.rr = rr
        self.recording = recording
        self.logged = 0
        self.paths: set[str] = set()
        for joint in joints:
            recording.log(streams.joint_path(joint, "position"),
                          rr.SeriesLines(colors=[POSITION_COLOUR], names=["position"], widths=[2.0]), static=True)
            recording.log(streams.joint_path(joint, "command"),
                          rr.SeriesLines(colors=[COMMAND_COLOUR], names=["command"], widths=[1.5]), static=True)
            recording.log(streams.joint_path(joint, "plan"),
                          rr.SeriesPoints(colors=[PLAN_COLOUR], names=["plan"], marker_sizes=[1.5]), static=True)
        recording.log(streams.SOURCE_PATH, rr.SeriesLines(colors=[SOURCE_COLOUR], names=["source"], widths=[2.0],
                                                          interpolation_mode="StepAfter"), static=True)

    def log(self, records: Iterable[Record]) -> None:
        rr, rec = self.rr, self.recording
        for record in records:
            rec.set_time(TIMELINE, timestamp=np.datetime64(int(record.stamp_ns), "ns"))
            if record.kind == streams.SCALAR:
                rec.log(record.path, rr.Scalars(record.value))
            elif record.kind == streams.IMAGE:
                rec.log(record.path, rr.Image(record.value))
            elif record.kind == streams.TEXT_LOG:
                rec.log(record.path, rr.TextLog(record.value, level=record.level))
            elif record.kind == streams.DOCUMENT:
                rec.log(record.path, rr.TextDocument(record.value, media_type=rr.MediaType.MARKDOWN))
            else:
                raise ValueError(f"unknown record kind {record.kind!r}")
            self.logged += 1
            self.paths.add(record.path)


def new_recording(recording_id: str | None = None):
    import rerun as rr
    return rr.RecordingStream(APPLICATION_ID, recording_id=recording_id)
