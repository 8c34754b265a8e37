"""A headless Chromium driven over the DevTools protocol (websockets), as a user's browser:
open a page, take screenshots. Software WebGL (SwiftShader), no GPU, no network but localhost."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request

from websockets.sync.client import connect

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--hide-scrollbars")


def chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class HeadlessBrowser:
    def __init__(self, width: int = 1600, height: int = 1000, start_timeout: float = 60.0):
        executable = chromium()
        if executable is None:
            raise RuntimeError(f"no Chromium found ({', '.join(CHROMIUM_NAMES)}): scripts/setup.sh installs "
                               "Debian's chromium (apt-get install chromium)")
        self.profile = tempfile.TemporaryDirectory(prefix="dexpie-chromium-")
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._id = 0
        self._events: list[str] = []
        self.ws = None
        try:
            port = self._devtools_port(start_timeout)
            deadline = time.monotonic() + start_timeout
            while True:
                pages = [t for t in json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5))
                         if t.get("type") == "page"]
                if pages or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if not pages:
                raise RuntimeError("Chromium opened no page")
            self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=start_timeout)
            self.call("Page.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, timeout: float) -> int:
        # Chromium writes the port it picked to <profile>/DevToolsActivePort.
        path = f"{self.profile.name}/DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Chromium exited with {self.process.returncode} at start-up")
            try:
                with open(path) as f:
                    first = f.readline().strip()
                if first.isdigit():
                    return int(first)
            except FileNotFoundError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Chromium did not open its DevTools port within {timeout:.0f} s")

    def call(self, method: str, timeout: float = 60.0, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("method"):
                self._events.append(message["method"])
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def open(self, url: str, timeout: float = 60.0) -> None:
        """Navigate to `url` and wait for the page's load event."""
        self._events = []
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while "Page.loadEventFired" not in self._events:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("method"):
                self._events.append(message["method"])

    def screenshot(self, timeout: float = 60.0) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", timeout=timeout, format="png")["data"])

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.profile.cleanup()
