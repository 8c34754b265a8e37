"""Reliability of the live graph under kill -9, and what bad inputs do: a benchmark anyone can re-run.

Part 1, faults on the running sim graph (the `dexpie-launch` supervisor's processes: sim_hand,
sim_operator, hand_controller, intervention_arbiter, policy_server, episode_recorder; a small
policy trained here; localhost discovery only):

- recorder trials: a finished episode, then an episode during which the recorder is killed
  with SIGKILL and restarted. Counted: finished episodes lost (any finished bag that no longer
  reads), killed episodes set aside as incomplete by the restarted recorder, and the time from
  the restart to its INCOMPLETE announcement.
- policy server trials: an episode during which the policy server is killed with SIGKILL.
  Measured: the hold latency (kill -> the first /intervention/state with source SAFETY_HOLD,
  as received by a monitor node), the time until the policy commands again after a restart,
  and whether the episode, ended afterwards, is recorded complete.

Part 2, bad inputs: each case is run (a node or a CLI with the bad input, or the bad message on
the running graph) and its outcome is what was observed: exit code and message, or the answer.

    .venv/bin/python benchmarks/reliability.py [--trials 10] [--max-minutes 15]

Prints the figures and the table and writes benchmarks/results/reliability.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "dexpie_bringup" / "test"))
from graph_harness import Monitor, limits, start_sim_graph, train_tiny_policy  # noqa: E402

from dexpie_bringup.episodes import GraphNotReady  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
VENV_BIN = Path(sys.executable).parent
SOURCE_POLICY, SOURCE_HOLD = 0, 2
SERVICE_WAIT_S = 3.0   # a probe request unanswered for this long counts as lost
SERVICE_GIVE_UP_S = 60.0
ANNOUNCE_WAIT_S = 20.0


class OutOfTime(RuntimeError):
    pass


def stats(values) -> dict:
    values = np.asarray(values, float)
    if values.size == 0:
        return dict(count=0)
    return dict(count=int(values.size), median=float(np.median(values)), max=float(values.max()),
                min=float(values.min()))


# ---- part 1: kill -9 on the running graph ---------------------------------------------------------
class FaultRun:
    def __init__(self, task: str, checkpoint: Path, work: Path, deadline: float):
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        from dexpie_common import topics
        from dexpie_msgs.msg import EpisodeEvent
        self.task, self.work, self.deadline = task, work, deadline
        self.output = work / "episodes"
        self.supervisor, self.transcript = start_sim_graph(task, checkpoint, self.output, work / "logs",
                                                           operator="never", clock="wall")
        self.monitor = Monitor(limits(task)["hand_controller"]["joint_names"])
        self.client = self.monitor.client
        self.events: list[tuple[float, object]] = []
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.monitor.node.create_subscription(
            EpisodeEvent, topics.EPISODE_EVENTS, lambda m: self.events.append((time.monotonic(), m)), qos)
        self.EpisodeEvent = EpisodeEvent
        self.finished: list[str] = []
        self.seed = 0

    def wait(self, predicate, timeout: float, what: str) -> None:
        if time.monotonic() + 1 > self.deadline:
            raise OutOfTime(what)
        self.monitor.spin_until(predicate, min(timeout, max(1.0, self.deadline - time.monotonic())), what)

    def next_seed(self) -> int:
        self.seed += 1
        return self.seed

    def states_since(self, since: float) -> list:
        return [s for s in self.monitor.wires.states if s[0] >= since]

    def start_episode(self):
        seed = self.next_seed()
        self.client.reset_scene(self.task, "init", seed, timeout=60)
        started = self.client.start_episode(self.task, "init", seed, ready_timeout=60)
        return started, time.monotonic()

    def wait_for_policy_ticks(self, since: float, count: int = 10) -> None:
        # this episode's ticks: from the arbiter's tick 0 on
        def enough():
            states = self.states_since(since)
            starts = [i for i, s in enumerate(states) if s[2][4] == 0]
            return bool(starts) and sum(s[2][0] == SOURCE_POLICY for s in states[starts[-1]:]) >= count
        self.wait(enough, 60, f"{count} policy ticks of the episode")

    def recorder_trial(self) -> dict:
        finished = self.client.run_episode(self.task, "init", self.next_seed(), max_ticks=30, timeout=60,
                                           ready_timeout=60)
        self.finished.append(finished.bag_path)
        started, since = self.start_episode()
        self.wait_for_policy_ticks(since)
        self.supervisor.kill("episode_recorder", signal.SIGKILL)
        restarted = time.monotonic()
        self.supervisor.restart("episode_recorder")
        incomplete = self.EpisodeEvent.EVENT_INCOMPLETE

        def announced():
            return any(t >= restarted and m.event == incomplete and m.episode_id == started.episode_id
                       for t, m in self.events)
        try:
            self.wait(announced, ANNOUNCE_WAIT_S, f"the restarted recorder to announce {started.episode_id}")
            seen = min(t for t, m in self.events if t >= restarted and m.episode_id == started.episode_id)
        except GraphNotReady:
            seen = None      # not heard by this client: the disk says whether it was set aside
        set_aside = (self.output / f"{started.episode_id}.incomplete").is_dir()
        answered, lost = self.probe_episode_services()
        return dict(finished=finished.bag_path, killed=started.episode_id, set_aside=set_aside,
                    announced=seen is not None, recovery_s=None if seen is None else seen - restarted,
                    services_answer_after_restart_s=answered - restarted, requests_lost_after_restart=lost)

    def probe_episode_services(self, wait_s: float = SERVICE_WAIT_S) -> tuple[float, int]:
        """Ask /episode/end with no episode running (refused, no side effect) until an answer
        comes; returns when it came and how many asks went unanswered. A request sent while
        the client is still matched only with the killed recorder's endpoints is lost."""
        from dexpie_msgs.srv import EndEpisode
        lost, give_up = 0, time.monotonic() + SERVICE_GIVE_UP_S
        while True:
            try:
                self.client.ask(self.client.end_client, EndEpisode.Request(outcome=2), timeout=wait_s)
                return time.monotonic(), lost
            except RuntimeError as error:   # no answer within wait_s, not found yet, or ServiceGone
                lost += 1
                if time.monotonic() + wait_s > self.deadline:
                    raise OutOfTime("the restarted recorder's services to answer") from None
                if time.monotonic() > give_up:
                    raise GraphNotReady(f"the recorder's services did not answer for {SERVICE_GIVE_UP_S:.0f} s "
                                        f"after its restart ({lost} requests; last: {error})") from None
                pause = time.monotonic() + 0.5
                self.monitor.spin_until(lambda: time.monotonic() > pause, 5, "a pause")

    def policy_trial(self) -> dict:
        started, since = self.start_episode()
        self.wait_for_policy_ticks(since)
        killed = time.monotonic()          # just before the signal: the latency is an upper bound
        self.supervisor.kill("policy_server", signal.SIGKILL)
        self.wait(lambda: any(s[2][0] == SOURCE_HOLD for s in self.states_since(killed)), 30,
                  "the arbiter to hold after the policy server died")
        hold = min(s[0] for s in self.states_since(killed) if s[2][0] == SOURCE_HOLD) - killed
        restarted = time.monotonic()
        self.supervisor.restart("policy_server")
        self.wait(lambda: any(s[2][0] == SOURCE_POLICY for s in self.states_since(restarted)), 180,
                  "the restarted policy server to command again")
        resumed = min(s[0] for s in self.states_since(restarted) if s[2][0] == SOURCE_POLICY) - restarted
        from dexpie_bringup.episodes import EpisodeSetAside
        try:
            ended = self.client.end_episode(self.EpisodeEvent.OUTCOME_FAILURE, note="reliability: policy killed")
            complete, ticks, message = True, int(ended.num_steps), ended.message
            self.finished.append(ended.bag_path)
        except EpisodeSetAside as error:
            complete, ticks, message = False, 0, str(error)
        return dict(episode=started.episode_id, hold_latency_s=hold, resume_after_restart_s=resumed,
                    recorded_complete=complete, ticks=ticks, message=message)

    def finished_lost(self) -> list[str]:
        from dexpie_episode import read_episode
        lost = []
        for path in self.finished:
            try:
                read_episode(path)
            except Exception as error:  # any failure to read is a lost episode
                lost.append(f"{path}: {error}")
        return lost

    def live_bad_inputs(self) -> list[dict]:
        """Bad messages and requests on the running graph, while an episode records."""
        from sensor_msgs.msg import JointState

        from dexpie_common import topics
        from dexpie_common.messages import joint_state_msg
        from dexpie_msgs.srv import EndEpisode, ResetToStage, StartEpisode
        rows = []
        client, node, wires = self.client, self.monitor.node, self.monitor.wires
        joints = self.monitor.joint_names
        started, since = self.start_episode()
        self.wait_for_policy_ticks(since, 5)
        publisher = node.create_publisher(JointState, topics.HAND_COMMAND, 10)
        self.wait(lambda: publisher.get_subscription_count() > 0, 10, "the controller's subscription")

        def injected(case, message, what):
            before, seen = time.monotonic(), len(self.transcript.getvalue())
            publisher.publish(message)
            self.wait(lambda: len([c for c in wires.controller_commands if c[0] > before]) >= 15, 10,
                      "15 controller commands after the injection")
            after = np.array([c[2] for c in wires.controller_commands if c[0] > before])
            control = limits(self.task)["hand_controller"]
            inside = np.all((after >= np.asarray(control["lower_limits"]) - 1e-9)
                            & (after <= np.asarray(control["upper_limits"]) + 1e-9))
            log = [line for line in self.transcript.getvalue()[seen:].splitlines()
                   if line.startswith("[hand_controller]") and ("WARN" in line or "ERROR" in line)]
            rows.append(dict(case=case, input=what, observed=(
                f"the next 15 controller commands finite: {bool(np.all(np.isfinite(after)))}, within the "
                f"joint limits: {bool(inside)}; controller log: "
                f"{log[0].split(']: ', 1)[-1][:160] if log else '(nothing)'}")))

        bad = np.zeros(len(joints))
        bad[3] = np.nan
        injected("NaN in a command", joint_state_msg(joints, bad, node.get_clock().now().to_msg()),
                 f"/hand/command with NaN at {joints[3]}")
        huge = np.full(len(joints), 1e6)
        injected("command far outside the joint limits",
                 joint_state_msg(joints, huge, node.get_clock().now().to_msg()), "/hand/command of 1e6 rad")
        node.destroy_publisher(publisher)
        for case, srv_client, request, what in [
            ("episode label out of range", client.end_client, EndEpisode.Request(outcome=7),
             "/episode/end outcome=7"),
            ("second start while recording", client.start_client,
             StartEpisode.Request(task=self.task, stage="init", seed=1), "/episode/start during an episode"),
            ("unknown start stage", client.reset_client,
             ResetToStage.Request(task=self.task, stage="flying", seed=1), "/sim/reset_to_stage stage=flying"),
            ("reset to another task", client.reset_client,
             ResetToStage.Request(task="door", stage="init", seed=1), "/sim/reset_to_stage task=door"),
        ]:
            answer = client.ask(srv_client, request, timeout=20)
            rows.append(dict(case=case, input=what,
                             observed=f"success={answer.success}: {answer.message[:200]}"))
        ended = client.end_episode(self.EpisodeEvent.OUTCOME_FAILURE, note="reliability: bad inputs")
        self.finished.append(ended.bag_path)
        from dexpie_episode import read_episode
        episode = read_episode(ended.bag_path)
        bad_rows = int(np.sum(~np.all(np.isfinite(episode.command), axis=1)))
        injected_rows = int(np.sum(np.any(np.abs(episode.command) >= 1e5, axis=1)))
        rows.append(dict(case="the episode recorded meanwhile", input=started.episode_id,
                         observed=f"ended complete={ended.success}, {ended.num_steps} ticks; recorded commands "
                                  f"not finite on {bad_rows} ticks, holding the injected 1e6 on {injected_rows}"))
        return rows

    def failed_trial(self, node: str, error: Exception) -> dict:
        """A trial that did not go through: what was awaited, the node's last log lines; the
        node is restarted so that the next trial starts from a running graph."""
        log = self.work / "logs" / f"{node}.log"
        tail = log.read_text(errors="replace").splitlines()[-6:] if log.is_file() else []
        self.supervisor.restart(node)
        restarted = time.monotonic()
        # Back to a graph whose recorder answers (the next trial needs it); raises if it does not.
        self.probe_episode_services()
        try:
            self.client.end_episode(self.EpisodeEvent.OUTCOME_ABORTED, note="reliability: trial failed")
        except RuntimeError:  # no episode running, or set aside: nothing to keep
            pass
        return dict(failed=str(error), node=node, last_log_lines=tail,
                    graph_answered_again_after_s=round(time.monotonic() - restarted, 2))

    def close(self) -> dict:
        self.monitor.close()
        return self.supervisor.stop()


# ---- part 2: bad inputs to the nodes and the CLIs ------------------------------------------------------
def run_case(case: str, what: str, argv: list[str], timeout: float = 30.0, env=None) -> dict:
    """Run one command with a bad input; its outcome as observed (exit code, the telling line)."""
    begin = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)
        code, text = done.returncode, (done.stderr + "\n" + done.stdout)
    except subprocess.TimeoutExpired as expired:
        code = None
        text = "\n".join(part.decode(errors="replace") if isinstance(part, bytes) else (part or "")
                         for part in (expired.stderr, expired.stdout))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = telling_line(lines, code)
    observed = (f"still running after {timeout:.0f} s (accepted): {line[:200]}" if code is None
                else f"exit {code}: {line[:240]}")
    return dict(case=case, input=what, observed=observed, exit_code=code,
                seconds=round(time.monotonic() - begin, 2))


def telling_line(lines: list[str], code: int | None) -> str:
    """The line that says what happened: the fatal error of a refusal; for a run that went
    on, the first warning about the input (a skipped bag), else its first line."""
    if code not in (0, None):
        fatal = [line for line in lines if "FATAL" in line or "error:" in line.lower() or "Error:" in line]
        if fatal:
            return fatal[-1]
    warned = [line for line in lines if "skipping" in line or "WARN" in line or "rror" in line]
    return (warned or lines or ["(no output)"])[0]


def write_nan_bag(demos: Path, out: Path, check: bool) -> Path:
    """A copy of a demonstration whose joint positions hold NaN on ticks 5..7. check=False: the
    writer's finiteness check is bypassed, as by a tool that does not check (the bag exists)."""
    from unittest import mock

    from dexpie_episode import EpisodeWriter, load_episodes, writer as writer_module
    episodes, _ = load_episodes(demos)
    episode = episodes[0]
    out.mkdir(parents=True, exist_ok=True)

    def unchecked(field_name, value, names):
        return np.asarray(value, dtype=np.float64).copy()
    with mock.patch.object(writer_module, "finite_vector", writer_module.finite_vector if check else unchecked):
        writer = EpisodeWriter(out, episode.meta, "nan_demo", durable=False)
        try:
            for t in range(episode.num_ticks):
                q = episode.joint_positions[t].copy()
                if 5 <= t <= 7:
                    q[0] = np.nan
                writer.write_tick(int(episode.stamp_ns[t]), q, episode.joint_velocities[t], episode.command[t],
                                  object_state=None if episode.object_state is None else episode.object_state[t],
                                  source=int(episode.source[t]), edge=int(episode.edge[t]),
                                  reason=int(episode.reason[t]), intervention_id=int(episode.intervention_id[t]))
        except Exception:
            writer.abort("NaN refused")
            raise
        return writer.close(episode.outcome)


def offline_bad_inputs(task: str, checkpoint: Path, work: Path) -> list[dict]:
    from dexpie_bringup.graph import sim_parameter_file
    params = sim_parameter_file(task)
    bad = work / "bad_inputs"
    bad.mkdir(exist_ok=True)
    corrupt = bad / "corrupt_checkpoint"
    shutil.copytree(checkpoint, corrupt)
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    import yaml
    document = yaml.safe_load(Path(params).read_text())
    document["hand_controller"]["ros__parameters"]["rate_hz"] = 0.0
    document["sim_hand"]["ros__parameters"]["rate_hz"] = -30.0
    bad_rates = bad / "bad_rates.yaml"
    bad_rates.write_text(yaml.safe_dump(document))
    nan_bag = write_nan_bag(work / "demos", bad / "nan_demos", check=False)
    begin = time.monotonic()
    try:
        write_nan_bag(work / "demos", bad / "nan_refused", check=True)
        writer_row = "accepted: the bag was written"
    except Exception as error:  # observed, whatever it is
        writer_row = f"{type(error).__name__}: {error}"
    writer_case = dict(case="NaN written by the episode writer", input="joint positions NaN on tick 5",
                       observed=writer_row[:240], exit_code=None, seconds=round(time.monotonic() - begin, 2))
    node = lambda name, *ros: [str(VENV_BIN / name), "--ros-args", "--params-file", params, *ros]  # noqa: E731
    rows = [
        writer_case,
        run_case("corrupt checkpoint (policy_server)", "model.safetensors cut in half",
                 node("policy_server", "-p", f"policy_server:checkpoint:={corrupt}")),
        run_case("corrupt checkpoint (dexpie-evaluate)", "model.safetensors cut in half",
                 [str(VENV_BIN / "dexpie-evaluate"), "--checkpoint", str(corrupt), "--task", task,
                  "--episodes", "1"]),
        run_case("missing checkpoint (policy_server)", "checkpoint:=<no such folder>",
                 node("policy_server", "-p", f"policy_server:checkpoint:={bad / 'nowhere'}")),
        run_case("NaN in a bag (train bc)", f"a bag written without the check: NaN joint positions on ticks 5-7",
                 [str(VENV_BIN / "dexpie-train"), "bc", "--demos", str(nan_bag.parent), "--out",
                  str(bad / "bc_on_nan"), "--steps", "2", "--quiet", "--threads", "1"]),
        run_case("NaN bag next to good ones (train bc)", "the NaN bag and the good demonstrations",
                 [str(VENV_BIN / "dexpie-train"), "bc", "--demos", str(nan_bag.parent), str(work / "demos"),
                  "--out", str(bad / "bc_on_mixed"), "--steps", "2", "--quiet", "--threads", "1"], timeout=120),
        run_case("unknown parameter (hand_controller)", "-p max_velocty:=[1.0]",
                 node("hand_controller", "-p", "hand_controller:max_velocty:=[1.0]")),
        run_case("bad rate in the parameters file (hand_controller)", "rate_hz: 0.0",
                 [str(VENV_BIN / "hand_controller"), "--ros-args", "--params-file", str(bad_rates)]),
        run_case("bad rate in the parameters file (sim_hand)", "rate_hz: -30.0",
                 [str(VENV_BIN / "sim_hand"), "--ros-args", "--params-file", str(bad_rates)]),
        run_case("bad rate given as the launchers give values (hand_controller)",
                 "the graph's file, then hand_controller:rate_hz:=0.0",
                 node("hand_controller", "-p", "hand_controller:rate_hz:=0.0")),
        run_case("bad rate as a plain -p after a file with a '/**' block (hand_controller)",
                 "the graph's file, then -p rate_hz:=0.0", node("hand_controller", "-p", "rate_hz:=0.0")),
        run_case("non-finite limit (hand_controller)", "-p watchdog_timeout:=.nan",
                 node("hand_controller", "-p", "hand_controller:watchdog_timeout:=.nan")),
        run_case("recorder without output_dir", "output_dir:=''",
                 node("episode_recorder", "-p", "episode_recorder:output_dir:=''")),
        run_case("recorder without hand description", "no hand.* parameters",
                 [str(VENV_BIN / "episode_recorder"), "--ros-args", "-p", f"output_dir:={bad / 'rec'}",
                  "-p", "joint_names:=[a, b]"]),
        run_case("network opt-in without a domain (dexpie-launch)", "network:=subnet",
                 [str(VENV_BIN / "dexpie-launch"), "rollout", f"checkpoint:={checkpoint}", "network:=subnet",
                  "--dry-run"]),
        run_case("unknown launch argument (dexpie-launch)", "speed:=3",
                 [str(VENV_BIN / "dexpie-launch"), "rollout", f"checkpoint:={checkpoint}", "speed:=3",
                  "--dry-run"]),
    ]
    return rows


def tree_state() -> dict:
    """The commit measured and the files that differed from it (uncommitted work)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args):
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""
    # porcelain lines are "XY path": the status letters take the first two columns
    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return dict(commit=git("rev-parse", "HEAD").strip(), uncommitted_changes=changed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="relocate")
    parser.add_argument("--trials", type=int, default=10, help="kill -9 trials of each of the two nodes")
    parser.add_argument("--max-minutes", type=float, default=15.0,
                        help="stop starting trials after this long (the report says how many ran)")
    parser.add_argument("--out", type=Path, default=RESULTS / "reliability.json")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be >= 1")
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    began, load_before = time.monotonic(), os.getloadavg()
    deadline = began + 60 * args.max_minutes
    work = Path(tempfile.mkdtemp(prefix="reliability_"))
    checkpoint = train_tiny_policy(args.task, work)

    run = FaultRun(args.task, checkpoint, work, deadline)
    recorder, policy, live, stopped_early, codes = [], [], [], None, {}
    try:
        run.wait(lambda: len(run.monitor.wires.policy_commands) >= 5 and len(run.monitor.wires.states) >= 5,
                 180, "the graph to be up")
        for trial in range(args.trials):
            try:
                recorder.append(run.recorder_trial())
            except RuntimeError as error:      # GraphNotReady, ServiceGone, a refused call
                if isinstance(error, OutOfTime):
                    raise
                recorder.append(run.failed_trial("episode_recorder", error))
            print(f"recorder trial {trial + 1}/{args.trials}: {recorder[-1]}", flush=True)
        for trial in range(args.trials):
            try:
                policy.append(run.policy_trial())
                print(f"policy server trial {trial + 1}/{args.trials}: hold after "
                      f"{policy[-1]['hold_latency_s'] * 1e3:.0f} ms", flush=True)
            except RuntimeError as error:
                if isinstance(error, OutOfTime):
                    raise
                policy.append(run.failed_trial("policy_server", error))
                print(f"policy server trial {trial + 1}/{args.trials}: FAILED {policy[-1]}", flush=True)
        live = run.live_bad_inputs()
    except OutOfTime as error:
        stopped_early = f"--max-minutes {args.max_minutes} reached while waiting for {error}"
    except RuntimeError as error:        # a failed trial's recovery failed: the graph is unusable
        stopped_early = f"the graph stopped answering: {error}"
    finally:
        lost = run.finished_lost()
        episodes_on_disk = sorted(p.name for p in run.output.iterdir()) if run.output.is_dir() else []
        codes = run.close()
    offline = offline_bad_inputs(args.task, checkpoint, work)
    load_after = os.getloadavg()

    failed_recorder = [t for t in recorder if "failed" in t]
    failed_policy = [t for t in policy if "failed" in t]
    recorder = [t for t in recorder if "failed" not in t]
    policy = [t for t in policy if "failed" not in t]
    holds = [t["hold_latency_s"] for t in policy]
    result = dict(
        task=args.task, trials_requested=args.trials, stopped_early=stopped_early,
        recorder_kill9=dict(
            trials=len(recorder), failed_trials=failed_recorder, finished_episodes=len(run.finished), finished_episodes_lost=len(lost),
            lost=lost, killed_episodes_set_aside=sum(t["set_aside"] for t in recorder),
            announced=sum(t["announced"] for t in recorder),
            recovery_s=stats([t["recovery_s"] for t in recorder if t["recovery_s"] is not None]),
            services_answer_after_restart_s=stats([t["services_answer_after_restart_s"] for t in recorder]),
            requests_lost_after_restart=sum(t["requests_lost_after_restart"] for t in recorder),
            per_trial=recorder),
        policy_server_kill9=dict(
            trials=len(policy), failed_trials=failed_policy, hold_latency_ms=stats(np.asarray(holds) * 1e3),
            resume_after_restart_s=stats([t["resume_after_restart_s"] for t in policy]),
            episodes_recorded_complete=sum(t["recorded_complete"] for t in policy), per_trial=policy),
        bad_inputs=live + offline,
        episodes_on_disk=dict(finished=sum(not n.endswith((".incomplete", ".partial")) for n in episodes_on_disk),
                              incomplete=sum(n.endswith(".incomplete") for n in episodes_on_disk),
                              partial=sum(n.endswith(".partial") for n in episodes_on_disk)),
        exit_codes_at_stop=codes,
        wall_s=round(time.monotonic() - began, 1),
        machine=dict(cpus=os.cpu_count(), python=platform.python_version(),
                     load_average_before=[round(x, 2) for x in load_before],
                     load_average_after=[round(x, 2) for x in load_after]),
        discovery="ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST", tree=tree_state())

    r, p = result["recorder_kill9"], result["policy_server_kill9"]
    print(f"\nreliability ({args.task}; {result['wall_s']:.0f} s; load average "
          f"{load_before[0]:.1f} -> {load_after[0]:.1f} on {os.cpu_count()} CPUs)")
    if stopped_early:
        print(f"STOPPED EARLY: {stopped_early}")
    print(f"recorder kill -9: {r['trials']} of {args.trials} trials went through; finished episodes lost {r['finished_episodes_lost']} of "
          f"{r['finished_episodes']}; killed episodes set aside as incomplete {r['killed_episodes_set_aside']} "
          f"of {r['trials']} (announced to the client {r['announced']}); restart -> set-aside announced: median {r['recovery_s'].get('median', 0):.2f} s, "
          f"max {r['recovery_s'].get('max', 0):.2f} s; restart -> its services answer: median "
          f"{r['services_answer_after_restart_s'].get('median', 0):.2f} s, max "
          f"{r['services_answer_after_restart_s'].get('max', 0):.2f} s ({r['requests_lost_after_restart']} "
          f"requests of {SERVICE_WAIT_S:.0f} s went unanswered in between)")
    for name, failed in (("recorder", failed_recorder), ("policy server", failed_policy)):
        for trial in failed:
            print(f"FAILED {name} trial: {trial['failed']}; last log lines of {trial['node']}:")
            for line in trial["last_log_lines"]:
                print(f"    {line[:200]}")
    if p["trials"]:
        print(f"policy server kill -9: {p['trials']} of {args.trials} trials went through; hold latency median "
              f"{p['hold_latency_ms']['median']:.0f} ms, max {p['hold_latency_ms']['max']:.0f} ms; policy "
              f"commands again {p['resume_after_restart_s']['median']:.1f} s (median) after the restart; "
              f"episodes recorded complete {p['episodes_recorded_complete']} of {p['trials']}")
    print(f"on disk: {result['episodes_on_disk']}")
    print("\nbad inputs (observed):")
    for row in result["bad_inputs"]:
        print(f"- {row['case']} [{row['input']}]: {row['observed']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0 if not lost and not stopped_early else 1


if __name__ == "__main__":
    sys.exit(main())
