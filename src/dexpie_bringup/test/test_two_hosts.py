"""The graph split over two machines, as README "Two machines" deploys it: the policy server on
the "GPU workstation", every other node on the "robot's computer", over DDS.

The two machines are two network namespaces made here, joined by a veth pair (10.200.x.1 and
10.200.x.2, nothing else: each has only its loopback and its end of the link), each running
the README's command through `ip netns exec`:

    gpu:    dexpie-launch rollout ... nodes:=policy_server   network:=subnet domain_id:=<N>
    robot:  dexpie-launch rollout ... without:=policy_server network:=subnet domain_id:=<N>

A probe on the robot's side (two_hosts_probe.py, a process of its own in that namespace) waits
for the policy to be in control, runs one episode with the episode client and checks that the
hand followed the commands computed on the other host; then it takes the link down (the arbiter
must hold) and up again (the policy must take control back). That the traffic really crosses
the link, and not shared memory (both namespaces share /dev/shm), is what the cut shows.

Isolation, while the graph runs: a node in the root namespace, on the default localhost
discovery and in the same domain, sees nothing; a localhost-only node on the robot's side sees
the robot's nodes but not the policy server across the link.

Root only (network namespaces); skipped, saying why, without root or without `ip netns`.
Latency injection (`tc qdisc ... netem delay`) is not used: this machine's kernel has no
sch_netem (README "Two machines" says what the scheduler does with network latency).
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dexpie_episode import read_episode

from graph_harness import train_tiny_policy

TASK = "relocate"
PROBE = Path(__file__).with_name("two_hosts_probe.py")
LAUNCHER = Path(sys.executable).with_name("dexpie-launch")
EPISODE_TICKS = 40


def _ip(*args, check=True):
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


class Hosts:
    def __init__(self, token: str):
        subnet = 16 + secrets.randbelow(200)
        self.gpu, self.robot = f"dexpie-gpu-{token}", f"dexpie-robot-{token}"
        self.gpu_dev, self.robot_dev = f"dxg{token}", f"dxr{token}"   # interface names: <= 15 chars
        self.gpu_address, self.robot_address = f"10.200.{subnet}.1", f"10.200.{subnet}.2"
        self.domain_id = 10 + secrets.randbelow(90)


@pytest.fixture
def two_hosts():
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces and a veth pair")
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2's `ip` (scripts/setup.sh installs it)")
    hosts = Hosts(secrets.token_hex(3))
    created = []
    try:
        for ns in (hosts.gpu, hosts.robot):
            result = _ip("netns", "add", ns, check=False)
            if result.returncode:
                pytest.skip(f"`ip netns add` is not possible here: {result.stderr.strip()}")
            created.append(ns)
        result = _ip("link", "add", hosts.gpu_dev, "type", "veth", "peer", "name", hosts.robot_dev, check=False)
        if result.returncode:
            pytest.skip(f"no veth pair between namespaces here: {result.stderr.strip()}")
        for ns, dev, address in ((hosts.gpu, hosts.gpu_dev, hosts.gpu_address),
                                 (hosts.robot, hosts.robot_dev, hosts.robot_address)):
            _ip("link", "set", dev, "netns", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
        yield hosts
    finally:
        for ns in created:
            # Whatever still runs in a namespace was started by this test (by its launchers).
            for pid in _ip("netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _ip("netns", "del", ns, check=False)     # takes its end of the veth pair with it
        if _ip("link", "show", hosts.gpu_dev, check=False).returncode == 0:
            _ip("link", "del", hosts.gpu_dev, check=False)   # failed before the move


def _launch(ns: str, arguments: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(["ip", "netns", "exec", ns, str(LAUNCHER), "rollout", *arguments],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen) -> int | None:
    """SIGINT (the launcher stops its nodes cleanly), then SIGKILL; the launcher's exit code."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            return None
    return process.returncode


def _probe(ns: str | None, arguments: list[str], env: dict, out: Path) -> subprocess.Popen:
    command = [sys.executable, str(PROBE), *arguments, "--out", str(out)]
    return subprocess.Popen((["ip", "netns", "exec", ns] if ns else []) + command,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(probe: subprocess.Popen, out: Path, timeout: float) -> dict:
    output, _ = probe.communicate(timeout=timeout)
    assert probe.returncode == 0 and out.exists(), f"probe failed ({probe.returncode}):\n{output[-5000:]}"
    return json.loads(out.read_text())


@pytest.mark.timeout(600)   # usually 25-55 s; the waits inside are generous for a loaded machine
def test_policy_on_one_host_drives_the_hand_on_another(two_hosts, tmp_path):
    hosts = two_hosts
    began = time.monotonic()
    checkpoint = train_tiny_policy(TASK, tmp_path)
    network = [f"task:={TASK}", "network:=subnet", f"domain_id:={hosts.domain_id}"]
    gpu_log, robot_log = tmp_path / "gpu.log", tmp_path / "robot.log"
    gpu = _launch(hosts.gpu, network + [f"checkpoint:={checkpoint}", "nodes:=policy_server",
                                        "--log-dir", str(tmp_path / "gpu_logs")], gpu_log)
    robot = _launch(hosts.robot, network + ["without:=policy_server", "operator:=never",
                                            f"output_dir:={tmp_path / 'episodes'}",
                                            "--log-dir", str(tmp_path / "robot_logs")], robot_log)
    codes = {}
    try:
        subnet = {"ROS_DOMAIN_ID": str(hosts.domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
                  "ROS_LOCALHOST_ONLY": "0"}
        report = _finish(_probe(hosts.robot, ["episode", "--task", TASK, "--seed", "3", "--max-ticks",
                                              str(EPISODE_TICKS), "--cut-link", hosts.robot_dev,
                                              "--ready-timeout", "150", "--timeout", "60"],
                                subnet, tmp_path / "episode.json"),
                         tmp_path / "episode.json", timeout=420)
        # The isolation checks, while the graph still runs (both probes at once).
        localhost = {"ROS_DOMAIN_ID": str(hosts.domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                     "ROS_STATIC_PEERS": ""}
        root = _probe(None, ["listen", "--seconds", "5"], localhost, tmp_path / "root.json")
        local = _probe(hosts.robot, ["listen", "--min-joint-states", "10", "--seconds", "3", "--deadline", "60"],
                       localhost, tmp_path / "local.json")
        root_seen = _finish(root, tmp_path / "root.json", timeout=120)
        local_seen = _finish(local, tmp_path / "local.json", timeout=120)
    finally:
        codes = {"gpu": _stop(gpu), "robot": _stop(robot)}
        print(f"two hosts ({time.monotonic() - began:.0f} s): {json.dumps(locals().get('report'))}")
    logs = f"\n--- gpu ---\n{gpu_log.read_text()[-6000:]}\n--- robot ---\n{robot_log.read_text()[-8000:]}"

    assert "error" not in report, report["error"] + logs
    # Each half ran only its own nodes, and no node of either stopped before the end.
    assert sorted(p.name for p in (tmp_path / "gpu_logs").iterdir()) == ["policy_server.log"]
    assert "policy_server.log" not in [p.name for p in (tmp_path / "robot_logs").iterdir()]
    assert codes == {"gpu": 0, "robot": 0}, f"{codes}{logs}"
    assert "policy_server" in report["nodes"], report["nodes"]

    # The episode: recorded on the robot's side, the policy from the other host in control.
    episode = read_episode(report["episode"]["bag_path"])
    assert len(episode.intervention) >= EPISODE_TICKS - 10 and not np.any(episode.intervention)
    assert report["policy_states"] >= 20 and report["followed"] >= 20, report
    # ... its chunks came over too (the scheduler's delay, in the policy server's ticks)
    assert report["chunk_delay_steps"], report
    # Cut the link: the arbiter holds; link up again: the policy is back in control.
    assert report["hold_after"] is not None and report["resumed_after"] is not None, report

    # Isolation: nothing from the root namespace; from the robot's side on localhost discovery,
    # the robot's own nodes but not the policy server on the other host.
    assert root_seen == {"joint_states": 0, "nodes": []}, root_seen
    assert local_seen["joint_states"] >= 10, local_seen
    assert "sim_hand" in local_seen["nodes"] and "policy_server" not in local_seen["nodes"], local_seen
