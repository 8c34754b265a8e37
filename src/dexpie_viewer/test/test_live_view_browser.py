"""The live view as a user meets it: the twin graph runs with viewer:=true, a headless
Chromium opens the URL the viewer node logged, and the page shows the panels with data.

DEXPIE_SCREENSHOT_OUT=<file.png> keeps the screenshot (README.md's docs/images/viewer.png
was taken this way)."""
from __future__ import annotations

import io
import os
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dexpie_bringup.graph import GraphOptions, rollout_graph
from dexpie_bringup.supervisor import GraphSupervisor
from graph_harness import Monitor, Transcript, limits, train_tiny_policy
from headless_browser import HeadlessBrowser

TASK = "relocate"
TAKEOVER_TICK, HANDBACK_TICK = 12, 30
SHOWN = re.compile(r"shown: joint_states (\d+), commands (\d+), interventions (\d+) \(edges (\d+)\), "
                   r"chunks (\d+), images (\d+), events (\d+)")
URL = re.compile(r"live view: open (http://\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, transcript: Transcript):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{transcript.getvalue()[-6000:]}")


def last_counts(transcript: Transcript):
    found = SHOWN.findall(transcript.getvalue())
    return tuple(int(v) for v in found[-1]) if found else None


def colours(png: bytes) -> tuple[int, np.ndarray]:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return len(np.unique(pixels.reshape(-1, 3), axis=0)), pixels


@pytest.mark.timeout(900)   # software WebGL of the live page: ~1 min idle, several on a loaded machine
def test_twin_graph_live_in_a_headless_browser(tmp_path):
    begin = time.monotonic()
    checkpoint = train_tiny_policy(TASK, tmp_path)
    web_port, grpc_port = free_port(), free_port()
    options = GraphOptions(
        task=TASK, checkpoint=str(checkpoint), output_dir=str(tmp_path / "episodes"), operator="scripted",
        viewer=True, viewer_port=str(web_port), viewer_grpc_port=str(grpc_port),
        extra_parameters=(("sim_operator", "scripted_takeover_tick", TAKEOVER_TICK),
                          ("sim_operator", "scripted_handback_tick", HANDBACK_TICK),
                          ("viewer", "report_s", 1.0),
                          # after the test's last reset the twin stands still: no new data to draw
                          ("sim_hand", "start_timeout", 900.0)))
    nodes = rollout_graph(options)
    assert [n.name for n in nodes if n.name == "viewer"] == ["viewer"]
    transcript = Transcript()
    supervisor = GraphSupervisor(nodes, output=transcript, log_dir=tmp_path / "logs").start()
    monitor = Monitor(limits(TASK)["hand_controller"]["joint_names"])
    browser = None
    try:
        url = wait_for(lambda: URL.findall(transcript.getvalue()), 120, "the viewer's URL", transcript)[0]
        assert url.startswith(f"http://127.0.0.1:{web_port}/?url=") and str(grpc_port) in url
        # Served on this host only (the default): not on the other interfaces.
        listening = Path("/proc/net/tcp").read_text()
        for port in (web_port, grpc_port):
            assert f"0100007F:{port:04X}" in listening and f"00000000:{port:04X}" not in listening
        monitor.spin_until(lambda: len(monitor.wires.policy_commands) >= 5 and len(monitor.wires.states) >= 5,
                           180, "the policy's first commands and the arbiter's ticks")
        # One episode with a takeover and a hand-back: START, edges, END with an outcome.
        monitor.client.run_episode(TASK, "init", seed=3, max_ticks=HANDBACK_TICK + 12, timeout=300)
        counts = wait_for(lambda: (c := last_counts(transcript)) and c[3] >= 2 and c[6] >= 2 and min(c) > 0 and c,
                          60, "the viewer to show joints, commands, edges, chunks, images and events", transcript)
        joint_states, commands, interventions, edges, chunks, images, events = counts
        assert joint_states >= HANDBACK_TICK and commands >= HANDBACK_TICK and chunks >= 2
        # The episode is over: reset the scene, and the twin (lockstep) stands still until the next
        # START, which never comes. The page then draws what was recorded, not a stream of ticks.
        monitor.client.reset_scene(TASK, "init", 4)

        print(f"graph and episode: {time.monotonic() - begin:.1f} s")
        browser = HeadlessBrowser(width=1200, height=750)
        browser.open(url)
        # The page is drawn once the Wasm viewer has loaded and received the recording: the
        # loading screen has a handful of colours, the panels (plots, camera image) hundreds.
        shot = {}

        def drawn():
            # drawn, and caught up: the count of colours no longer grows (the software
            # renderer replays the backlog of a busy machine at its own pace)
            # A software-rendered frame of the live page can take a minute on a loaded 2-core
            # machine: the screenshot waits for it.
            png = browser.screenshot(timeout=240)
            previous = shot.get("n", 0)
            shot["png"], (shot["n"], shot["pixels"]) = png, colours(png)
            return shot["n"] >= 400 and shot["n"] <= 1.02 * previous

        drawn_at = time.monotonic()
        wait_for(drawn, 600, "the viewer's panels in the browser", transcript)
        pixels = shot["pixels"]
        (tmp_path / "viewer.png").write_bytes(shot["png"])
        out = os.environ.get("DEXPIE_SCREENSHOT_OUT")
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_bytes(shot["png"])
        print(f"screenshot after {time.monotonic() - drawn_at:.1f} s: {shot['n']} colours, {tmp_path / 'viewer.png'}")
        # Not one big blank: no colour covers 90 % of the page.
        _, frequency = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
        assert frequency.max() < 0.9 * pixels.shape[0] * pixels.shape[1]
        assert not supervisor.dead(), transcript.getvalue()[-5000:]
    finally:
        if browser is not None:
            browser.close()
        monitor.close()
        codes = supervisor.stop()
        print(transcript.getvalue()[-8000:])
    assert codes.get("viewer") == 0, codes
