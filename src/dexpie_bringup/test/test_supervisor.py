"""The pip-runtime launcher's process supervision, on small stand-in executables."""
import io
import os
import signal
import stat
import textwrap
import threading

import pytest

from dexpie_bringup.graph import NodeLaunch
from dexpie_bringup.supervisor import ExecutableNotFound, GraphSupervisor, find_executable

SCRIPT = textwrap.dedent("""\
    #!{python}
    import signal, sys, time
    name = [a for a in sys.argv if a.startswith("__node:=")][0].split(":=")[1]
    stubborn = "stubborn" in name
    def on_signal(sig, frame):
        if stubborn and sig == signal.SIGINT:
            return
        print(f"{{name}} clean exit on {{signal.Signals(sig).name}}", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"{{name}} up args={{sys.argv[1:]}}", flush=True)
    while True:
        time.sleep(0.05)
""")


@pytest.fixture
def fake_node(tmp_path, monkeypatch):
    import sys
    path = tmp_path / "fake_node"
    path.write_text(SCRIPT.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return "fake_node"


class Transcript(io.StringIO):
    """The supervisor's output; waiters are woken on every write (no polling, no sleeps)."""

    def __init__(self):
        super().__init__()
        self.changed = threading.Condition()

    def write(self, text):
        with self.changed:
            count = super().write(text)
            self.changed.notify_all()
            return count


def wait_for_text(output, text, supervisor=None, timeout=20.0):
    with output.changed:
        assert output.changed.wait_for(lambda: text in output.getvalue(), timeout), \
            f"never saw {text!r}; output:\n{output.getvalue()}"


def test_start_prefix_stop_cleanly(fake_node, tmp_path):
    output = Transcript()
    nodes = [NodeLaunch("pkg", fake_node, "alpha", ("/p.yaml",)), NodeLaunch("pkg", fake_node, "beta")]
    supervisor = GraphSupervisor(nodes, output=output, log_dir=tmp_path / "logs").start()
    wait_for_text(output, "[alpha] alpha up", supervisor)
    wait_for_text(output, "[beta] beta up", supervisor)
    assert "'--params-file', '/p.yaml'" in output.getvalue()
    codes = supervisor.stop()
    assert codes == {"alpha": 0, "beta": 0}
    assert "clean exit on SIGINT" in (tmp_path / "logs" / "alpha.log").read_text()


def test_stubborn_node_is_escalated_to_sigterm(fake_node):
    output = Transcript()
    supervisor = GraphSupervisor([NodeLaunch("pkg", fake_node, "stubborn")], output=output).start()
    wait_for_text(output, "stubborn up", supervisor)
    codes = supervisor.stop(timeout=0.5)
    assert codes == {"stubborn": 0} and "ignored SIGINT" in output.getvalue()
    assert "clean exit on SIGTERM" in output.getvalue()


def test_kill_reports_the_death_and_restart_brings_it_back(fake_node):
    output = Transcript()
    exits = []
    supervisor = GraphSupervisor([NodeLaunch("pkg", fake_node, "gamma")], output=output,
                                 on_exit=lambda name, code: exits.append((name, code))).start()
    wait_for_text(output, "gamma up", supervisor)
    supervisor.kill("gamma", signal.SIGKILL)
    assert not supervisor.running("gamma") and supervisor.dead() == {"gamma": -signal.SIGKILL}
    wait_for_text(output, "gamma exited with code -9", supervisor)
    assert exits == [("gamma", -9)]
    supervisor.restart("gamma")
    assert supervisor.running("gamma") and supervisor.managed["gamma"].restarts == 1
    supervisor.stop()


def test_missing_executables():
    with pytest.raises(ExecutableNotFound, match="no_such_exe"):
        find_executable("pkg", "no_such_exe")
    output = Transcript()
    supervisor = GraphSupervisor([NodeLaunch("rviz2", "no_such_rviz", "rviz2", required=False)], output=output)
    supervisor.start()
    assert "skipping optional rviz2" in output.getvalue()
    supervisor.stop()
    with pytest.raises(ValueError, match="unique"):
        GraphSupervisor([NodeLaunch("a", "b", "x"), NodeLaunch("a", "c", "x")])


def test_each_node_runs_with_its_own_discovery_environment(tmp_path, monkeypatch):
    """The supervisor starts every node with the graph's discovery settings, over whatever the
    launching shell had (here a shell set up for the lab network)."""
    import sys
    from dexpie_bringup.graph import GraphOptions, network_environment
    script = tmp_path / "env_node"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import os
        names = ["ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_STATIC_PEERS", "ROS_DOMAIN_ID"]
        print("env " + " ".join(f"{{n}}={{os.environ.get(n, '<unset>')!r}}" for n in names), flush=True)
        """))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    monkeypatch.setenv("ROS_STATIC_PEERS", "192.168.1.20")
    monkeypatch.setenv("ROS_DOMAIN_ID", "5")
    nodes = [NodeLaunch("pkg", "env_node", "default", environment=network_environment(GraphOptions())),
             NodeLaunch("pkg", "env_node", "opted",
                        environment=network_environment(GraphOptions(network="subnet", domain_id="42")))]
    output = Transcript()
    supervisor = GraphSupervisor(nodes, output=output)
    try:
        supervisor.start()
        wait_for_text(output, "[launcher] default exited")
        wait_for_text(output, "[launcher] opted exited")
    finally:
        supervisor.stop()
    text = output.getvalue()
    assert "[default] env ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST' ROS_STATIC_PEERS='' ROS_DOMAIN_ID='5'" in text
    assert "[opted] env ROS_AUTOMATIC_DISCOVERY_RANGE='SUBNET' ROS_STATIC_PEERS='192.168.1.20' " \
           "ROS_DOMAIN_ID='42'" in text
