"""`dexpie-episodes`: run recorded episodes on a running graph (twin or robot).

For each episode: reset the twin to the start stage (`/sim/reset_to_stage`; on a robot the
operator arranges the scene and presses Enter), start recording (`/episode/start`), wait
until the twin reports success or a timeout (`/sim/task_status`) or `max_ticks` ticks pass,
and end the episode with its outcome label (`/episode/end`). On a robot (`--robot`) the
operator ends the episode by typing its outcome at the prompt (`s` success, `f` failure,
`a` aborted, then Enter); a task status on `/sim/task_status`, if the robot publishes one,
ends it too, and `--timeout` seconds end it as a failure. Every wait is on a topic or a
service with a deadline; a missing service is an error naming it.

A recorder that has not yet received every stream it records answers `/episode/start` with
"recorder not ready: ..." (an episode started then would lose its first ticks): the client
waits and asks again, up to `--ready-timeout` seconds. An episode the recorder sets aside
(ticks lost, no tick at all) is reported with the recorder's reason; the others still run,
and the exit status is 1.

A node that was there and is gone (the recorder crashed, the twin was stopped) is an error at
once (ServiceGone, naming the service): its services left the ROS graph, so there is no
point waiting out a timeout. This is checked while waiting for a service, for its answer and,
for the recorder, on every tick of a running episode.

    dexpie-launch rollout task:=relocate checkpoint:=<policy> &
    dexpie-episodes --task relocate --episodes 10 --stages init grasped
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String

from dexpie_common import topics
from dexpie_episode.live_recording import NOT_READY
from dexpie_msgs.msg import EpisodeEvent
from dexpie_msgs.srv import EndEpisode, ResetToStage, StartEpisode


class GraphNotReady(RuntimeError):
    pass


class ServiceGone(RuntimeError):
    """A node whose service this client had found left the graph (crashed or stopped)."""


class EpisodeSetAside(RuntimeError):
    """The recorder set the episode aside as incomplete; the message is its reason."""

    def __init__(self, message: str, bag_path: str = ""):
        super().__init__(message)
        self.bag_path = bag_path

# How often a "not ready" recorder is asked again (seconds of spinning in between).
READY_RETRY_S = 0.25


@dataclass(frozen=True)
class EpisodeResult:
    episode_id: str
    bag_path: str
    stage: str
    seed: int
    outcome: str        # "success" | "failure" | "aborted" (robot: typed by the operator)
    ticks: int          # control ticks recorded by the recorder


OUTCOME_LABELS = {"success": EpisodeEvent.OUTCOME_SUCCESS, "failure": EpisodeEvent.OUTCOME_FAILURE,
                  "aborted": EpisodeEvent.OUTCOME_ABORTED}
# What the operator may type to end an episode on a robot (first letter or the word).
TYPED_OUTCOMES = {"s": "success", "success": "success", "f": "failure", "failure": "failure",
                  "a": "aborted", "aborted": "aborted", "abort": "aborted"}


def typed_outcome(line: str) -> str | None:
    """The outcome an operator's line names ("s", "failure", ...), else None."""
    return TYPED_OUTCOMES.get(line.strip().lower())


class OperatorInput:
    """The operator's lines on stdin, read by a thread so that the client keeps spinning
    while an episode runs; `next_line()` blocks, `poll()` does not. End of input is None."""

    def __init__(self, stream=None):
        import queue
        import threading
        self._lines: "queue.Queue[str | None]" = queue.Queue()
        self._stream = sys.stdin if stream is None else stream
        self.closed = False
        threading.Thread(target=self._read, name="operator-input", daemon=True).start()

    def _read(self) -> None:
        for line in self._stream:
            self._lines.put(line)
        self._lines.put(None)

    def next_line(self) -> str | None:
        if self.closed:
            return None
        line = self._lines.get()
        self.closed = line is None
        return line

    def poll(self) -> str | None:
        import queue
        if self.closed:
            return None
        try:
            line = self._lines.get_nowait()
        except queue.Empty:
            return None
        self.closed = line is None
        return line


def outcome_of(status: dict, ticks: int, max_ticks: int) -> str | None:
    """The label once the episode is over, else None. status: the twin's last task status."""
    if status.get("success"):
        return "success"
    if status.get("timed_out") or ticks >= max_ticks:
        return "failure"
    return None


class EpisodeClient:
    """Service and topic client used by the CLI and by the integration tests."""

    def __init__(self, node: Node, executor):
        self.node = node
        self.executor = executor
        self.reset_client = node.create_client(ResetToStage, topics.SIM_RESET_TO_STAGE_SERVICE)
        self.start_client = node.create_client(StartEpisode, topics.EPISODE_START_SERVICE)
        self.end_client = node.create_client(EndEpisode, topics.EPISODE_END_SERVICE)
        # Services of one node: one of them found once and none there now = the node is gone.
        recorder = ("episode_recorder", (self.start_client, self.end_client))
        self._providers = {self.start_client: recorder, self.end_client: recorder,
                           self.reset_client: ("sim_hand", (self.reset_client,))}
        self._seen: set[str] = set()   # services found at least once
        self.status: dict = {}
        self.status_count = 0
        self._episode: tuple | None = None     # (seed, start stage) of the running episode
        node.create_subscription(String, topics.SIM_TASK_STATUS, self._on_status, 10)

    def _on_status(self, msg: String) -> None:
        status = json.loads(msg.data)
        # Statuses still in flight from before the reset describe the old scene: skip them.
        if self._episode is not None and (status.get("seed"), status.get("start_stage")) != self._episode:
            return
        self.status = status
        self.status_count += 1

    def spin_until(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise GraphNotReady(f"timed out after {timeout:.0f} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.05)

    def _ready(self, client) -> bool:
        """The service is there now; raises ServiceGone when its node was found and left."""
        if client.service_is_ready():
            self._seen.add(client.srv_name)
            return True
        self.check_alive(client)
        return False

    def check_alive(self, client) -> None:
        """Raise ServiceGone when the node providing `client`'s service was found before and
        none of its services is in the graph now."""
        node_name, services = self._providers.get(client, (None, (client,)))
        if not any(s.srv_name in self._seen for s in services):
            return   # not found yet: the graph may still be starting
        if any(s.service_is_ready() for s in services):
            return
        raise ServiceGone(f"{client.srv_name}: the service is gone from the ROS graph"
                          + (f" (the {node_name} node stopped or crashed)" if node_name else ""))

    def ask(self, client, request, timeout: float = 30.0):
        """The service's answer, whatever it says."""
        self.spin_until(lambda: self._ready(client), timeout, f"service {client.srv_name}")
        future = client.call_async(request)

        def answered() -> bool:
            if future.done():
                return True
            try:
                self.check_alive(client)
            except ServiceGone:
                self.executor.spin_once(timeout_sec=0.1)   # an answer sent just before it left
                if not future.done():
                    raise
            return future.done()
        self.spin_until(answered, timeout, f"the answer of {client.srv_name}")
        return future.result()

    def call(self, client, request, timeout: float = 30.0):
        response = self.ask(client, request, timeout)
        if not response.success:
            raise RuntimeError(f"{client.srv_name} refused: {response.message}")
        return response

    def start_episode(self, task: str, stage: str, seed: int, ready_timeout: float = 60.0,
                      say=lambda text: None):
        """/episode/start, asked again while the recorder is not ready (until ready_timeout)."""
        request = StartEpisode.Request(task=task, stage=stage, seed=seed)
        deadline = time.monotonic() + ready_timeout
        said = False
        while True:
            response = self.ask(self.start_client, request)
            if response.success:
                return response
            if not response.message.startswith(NOT_READY):
                raise RuntimeError(f"{self.start_client.srv_name} refused: {response.message}")
            if time.monotonic() > deadline:
                raise GraphNotReady(f"the recorder was still not ready after {ready_timeout:.0f} s: "
                                    f"{response.message}")
            if not said:
                say(f"waiting for the recorder: {response.message}")
                said = True
            pause = time.monotonic() + READY_RETRY_S
            while time.monotonic() < pause:
                self.executor.spin_once(timeout_sec=0.05)

    def end_episode(self, outcome: int, note: str = ""):
        """/episode/end; an episode the recorder set aside raises EpisodeSetAside."""
        ended = self.ask(self.end_client, EndEpisode.Request(outcome=outcome, note=note))
        if not ended.success:
            if ended.bag_path.endswith(".incomplete"):
                raise EpisodeSetAside(f"{self.end_client.srv_name}: {ended.message}", ended.bag_path)
            raise RuntimeError(f"{self.end_client.srv_name} refused: {ended.message}")
        return ended

    def reset_scene(self, task: str, stage: str, seed: int, timeout: float = 30.0):
        """Reset the twin; from now on only statuses of the new scene count."""
        self._episode = (seed, stage)
        self.status = {}
        return self.call(self.reset_client, ResetToStage.Request(task=task, stage=stage, seed=seed), timeout)

    def run_episode(self, task: str, stage: str, seed: int, max_ticks: int, sim: bool = True,
                    timeout: float = 120.0, ready_timeout: float = 60.0, say=lambda text: None,
                    operator=None, on_start=lambda episode_id: None) -> EpisodeResult:
        """operator: None, or a callable polled while the episode runs that returns the
        outcome the operator gave ("success", "failure", "aborted") or None (not yet)."""
        if sim:
            self.reset_scene(task, stage, seed)
        started = self.start_episode(task, stage, seed, ready_timeout, say)
        on_start(started.episode_id)
        first = self.status_count
        outcome = None
        deadline = time.monotonic() + timeout
        while outcome is None:
            if time.monotonic() > deadline:
                outcome = "failure"
                break
            self.executor.spin_once(timeout_sec=0.05)
            self.check_alive(self.end_client)   # a recorder that died ends the run now
            outcome = operator() if operator is not None else None
            if outcome is None and self.status_count > first:
                outcome = outcome_of(self.status, self.status_count - first, max_ticks)
        note = "dexpie-episodes" + (" (operator)" if operator is not None else "")
        ended = self.end_episode(OUTCOME_LABELS[outcome], note=note)
        return EpisodeResult(started.episode_id, ended.bag_path, stage, seed, outcome, int(ended.num_steps))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="dexpie-episodes", description=__doc__.split("\n\n")[0],
        epilog="dexpie-episodes export-lerobot FOLDERS --out DIR: episode bags -> a "
               "LeRobotDataset, no graph needed (see dexpie-episodes export-lerobot --help)")
    parser.add_argument("--task", required=True)
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--stages", nargs="+", default=["init"], help="start stages, cycled")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--max-ticks", type=int, default=300)
    parser.add_argument("--robot", action="store_true",
                        help="no twin: the operator arranges each start state and presses Enter, "
                             "then ends each episode by typing its outcome (s / f / a and Enter)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds after which a running episode ends as a failure")
    parser.add_argument("--ready-timeout", type=float, default=60.0,
                        help="seconds to wait for the recorder to have received every stream it records")
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.max_ticks < 1:
        parser.error("--episodes and --max-ticks must be >= 1")
    if not args.timeout > 0:
        parser.error("--timeout must be > 0")
    rclpy.init()
    node = rclpy.create_node("dexpie_episodes")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    client = EpisodeClient(node, executor)
    results, set_aside = [], []
    keyboard = OperatorInput() if args.robot else None
    operator = None if keyboard is None else (lambda: _typed(keyboard))
    try:
        for index in range(args.episodes):
            stage = args.stages[index % len(args.stages)]
            if keyboard is not None:
                print(f"arrange stage {stage!r} and press Enter ", end="", flush=True)
                if keyboard.next_line() is None:
                    raise GraphNotReady("end of input: no operator to start the episode")

            def started(episode_id, index=index, stage=stage):
                if keyboard is not None:
                    print(f"episode {index + 1}/{args.episodes}: recording {episode_id} (stage {stage}); "
                          f"type s (success), f (failure) or a (aborted) and Enter to end it", flush=True)
            try:
                result = client.run_episode(args.task, stage, args.first_seed + index, args.max_ticks,
                                            sim=not args.robot, timeout=args.timeout,
                                            ready_timeout=args.ready_timeout,
                                            say=lambda text: print(text, file=sys.stderr, flush=True),
                                            operator=operator, on_start=started)
            except EpisodeSetAside as error:
                set_aside.append({"stage": stage, "seed": args.first_seed + index,
                                  "bag_path": error.bag_path, "reason": str(error)})
                print(f"episode {index + 1}/{args.episodes}: SET ASIDE stage={stage}: {error}",
                      file=sys.stderr, flush=True)
                continue
            results.append(result)
            print(f"episode {index + 1}/{args.episodes}: {result.outcome:8s} stage={stage} "
                  f"ticks={result.ticks} -> {result.bag_path}", flush=True)
    except (GraphNotReady, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    successes = sum(r.outcome == "success" for r in results)
    print(json.dumps({"episodes": [asdict(r) for r in results], "successes": successes,
                      "set_aside": set_aside}))
    return 1 if set_aside else 0


def _typed(keyboard: OperatorInput) -> str | None:
    """The outcome the operator typed since the last look, if any (other lines are ignored,
    with a hint); end of input aborts the episode."""
    line = keyboard.poll()
    if line is None:
        return "aborted" if keyboard.closed else None
    outcome = typed_outcome(line)
    if outcome is None and line.strip():
        print(f"{line.strip()!r}: type s (success), f (failure) or a (aborted)", flush=True)
    return outcome


if __name__ == "__main__":
    sys.exit(main())
