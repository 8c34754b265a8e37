"""What the live view shows, as plain records: the graph's messages (or a recorded episode's
ticks) in, `Record`s out, one per value logged to the viewer.

`ViewerStreams` is fed plain values by the viewer node (from messages) and by `dexpie-view`
(from episode bags) alike, so a live run and its recording look the same. The records are
applied to a Rerun recording by `dexpie_viewer.rerun_sink`.

Entity paths (the viewer's panels are laid out on them, `rerun_sink.blueprint`):
    joints/<joint>/position   measured joint position (/joint_states)
    joints/<joint>/command    command sent to the hand (/hand/command)
    joints/<joint>/plan       the policy's planned targets (/policy/action_chunk), each at the
                              control tick it is meant for: dots against the executed command
    control/source            who commands the hand: 0 policy, 1 human, 2 hold (step plot)
    control/edges             takeover / hand-back / hold edges with their reason (text log)
    camera/<name>             camera images (rate-limited)
    episode/events            START / STAGE / END with the outcome (text log)
    status                    a summary: episode, outcome, who is in control, takeovers

Pure: no rclpy, no message packages, no rerun.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# dexpie_msgs constants (InterventionState, EpisodeEvent), as in dexpie_episode.schema.
SOURCE_NAMES = {0: "policy", 1: "human", 2: "hold"}
EDGE_NAMES = {1: "takeover", 2: "hand-back", 3: "hold"}
REASON_NAMES = {0: "", 1: "button", 2: "device motion", 3: "operator idle", 4: "stale input",
                5: "e-stop", 6: "episode boundary"}
EVENT_START, EVENT_END, EVENT_STAGE, EVENT_INCOMPLETE = 0, 1, 2, 3
OUTCOME_NAMES = {0: "unknown", 1: "success", 2: "failure", 3: "aborted"}

# Record kinds (rerun_sink maps each to an archetype).
SCALAR = "scalar"        # value: float
IMAGE = "image"          # value: (H, W, 3) uint8
TEXT_LOG = "text_log"    # value: str; level: INFO / WARN / ERROR
DOCUMENT = "document"    # value: str (markdown)

DEFAULT_PLOTTED_JOINTS = 4


def joint_path(joint: str, what: str) -> str:
    return f"joints/{joint}/{what}"


def camera_path(camera: str) -> str:
    return f"camera/{camera}"


SOURCE_PATH = "control/source"
EDGES_PATH = "control/edges"
EVENTS_PATH = "episode/events"
STATUS_PATH = "status"


@dataclass(frozen=True)
class Record:
    """One value for the viewer: `path` at time `stamp_ns` (the message's header stamp)."""
    path: str
    kind: str
    stamp_ns: int
    value: object
    level: str = "INFO"


def plotted_joints(joint_names: Sequence[str], requested: Sequence[str] = (),
                   count: int = DEFAULT_PLOTTED_JOINTS) -> tuple[str, ...]:
    """The joints drawn as plots: `requested` (each must be a joint of the hand), or else
    `count` joints spread evenly over the hand (arm and fingers alike)."""
    names = list(joint_names)
    unknown = [name for name in requested if name not in names]
    if unknown:
        raise ValueError(f"plot_joints {unknown} are not joints of the hand ({names})")
    if requested:
        return tuple(requested)
    if len(names) <= count:
        return tuple(names)
    return tuple(names[(i * len(names)) // count] for i in range(count))


@dataclass
class Counters:
    """How much each stream has logged (the node reports them; tests check them)."""
    joint_states: int = 0
    commands: int = 0
    interventions: int = 0
    edges: int = 0
    chunks: int = 0
    images: int = 0
    events: int = 0


class ViewerStreams:
    """Turns the graph's values into `Record`s. One instance per run (live) or per episode.

    joints: the plotted joints. control_dt: seconds between control ticks (places a chunk's
    planned targets on the ticks they are meant for). image_period_ns: at most one image per
    camera per period (0: every image).
    """

    def __init__(self, joints: Sequence[str], control_dt: float, image_period_ns: int = 0):
        if control_dt <= 0:
            raise ValueError(f"control_dt must be positive, got {control_dt}")
        self.joints = tuple(joints)
        self.control_dt_ns = int(round(control_dt * 1e9))
        self.image_period_ns = int(image_period_ns)
        self.counters = Counters()
        self._last_image_ns: dict[str, int] = {}
        self._source: int | None = None
        self._takeovers = 0
        self._episode = ""
        self._task = ""
        self._outcome = ""

    # ---- joints ------------------------------------------------------------------------
    def _joint_records(self, stamp_ns: int, names: Sequence[str], values, what: str) -> list[Record]:
        index = {name: i for i, name in enumerate(names)}
        values = np.asarray(values, dtype=np.float64)
        return [Record(joint_path(joint, what), SCALAR, stamp_ns, float(values[index[joint]]))
                for joint in self.joints if joint in index and index[joint] < values.shape[0]
                and np.isfinite(values[index[joint]])]

    def joint_state(self, stamp_ns: int, names: Sequence[str], positions) -> list[Record]:
        """/joint_states: the measured positions of the plotted joints."""
        self.counters.joint_states += 1
        return self._joint_records(stamp_ns, names, positions, "position")

    def command(self, stamp_ns: int, names: Sequence[str], positions) -> list[Record]:
        """/hand/command: what the hand was told to do on this tick (policy or human)."""
        self.counters.commands += 1
        return self._joint_records(stamp_ns, names, positions, "command")

    # ---- who is in control ---------------------------------------------------------------
    def intervention(self, stamp_ns: int, source: int, edge: int, reason: int,
                     intervention_id: int, detail: str = "") -> list[Record]:
        """/intervention/state: the source as a step plot; an edge as a text line."""
        self.counters.interventions += 1
        records = [Record(SOURCE_PATH, SCALAR, stamp_ns, float(source))]
        changed = source != self._source
        if edge in EDGE_NAMES:
            self.counters.edges += 1
            if edge == 1:
                self._takeovers = max(self._takeovers + 1, int(intervention_id))
            why = REASON_NAMES.get(int(reason), f"reason {reason}")
            text = f"{EDGE_NAMES[edge]}: {SOURCE_NAMES.get(self._source, '-')} -> " \
                   f"{SOURCE_NAMES.get(source, source)}" + (f" ({why})" if why else "") \
                   + (f", intervention {intervention_id}" if edge == 1 else "") + (f": {detail}" if detail else "")
            records.append(Record(EDGES_PATH, TEXT_LOG, stamp_ns, text, "WARN" if edge == 3 else "INFO"))
        self._source = int(source)
        if changed or edge in EDGE_NAMES:
            records.append(self._status(stamp_ns))
        return records

    # ---- the policy's plan ---------------------------------------------------------------
    def action_chunk(self, stamp_ns: int, observation_stamp_ns: int, joint_names: Sequence[str],
                     targets, start_index: int) -> list[Record]:
        """/policy/action_chunk: row k of `targets` (H x J) is meant for the tick `k` control
        periods after the observation; rows from `start_index` on are the ones executed."""
        self.counters.chunks += 1
        targets = np.asarray(targets, dtype=np.float64).reshape(-1, len(joint_names))
        index = {name: i for i, name in enumerate(joint_names)}
        records = []
        for k in range(int(start_index), targets.shape[0]):
            at = int(observation_stamp_ns) + k * self.control_dt_ns
            records += [Record(joint_path(joint, "plan"), SCALAR, at, float(targets[k, index[joint]]))
                        for joint in self.joints if joint in index and np.isfinite(targets[k, index[joint]])]
        return records

    # ---- cameras -------------------------------------------------------------------------
    def image(self, stamp_ns: int, camera: str, rgb: np.ndarray) -> list[Record]:
        """/camera/<name>/image_raw as (H, W, 3) uint8; at most one per image period."""
        last = self._last_image_ns.get(camera)
        if last is not None and 0 <= stamp_ns - last < self.image_period_ns:
            return []
        self._last_image_ns[camera] = stamp_ns
        self.counters.images += 1
        return [Record(camera_path(camera), IMAGE, stamp_ns, np.ascontiguousarray(rgb))]

    # ---- episodes ------------------------------------------------------------------------
    def episode_event(self, stamp_ns: int, event: int, episode_id: str, task: str = "",
                      stage: str = "", outcome: int = 0, detail: str = "") -> list[Record]:
        """/episode/events: START / STAGE / END (with the outcome) / INCOMPLETE."""
        self.counters.events += 1
        if event == EVENT_START:
            self._episode, self._task, self._outcome, self._takeovers = episode_id, task, "running", 0
            text, level = f"START {episode_id} ({task}, stage {stage or 'init'})", "INFO"
        elif event == EVENT_END:
            self._episode = episode_id or self._episode
            self._outcome = OUTCOME_NAMES.get(int(outcome), f"outcome {outcome}")
            text = f"END {episode_id}: {self._outcome.upper()}" + (f" ({detail})" if detail else "")
            level = "INFO" if outcome == 1 else "WARN"
        elif event == EVENT_STAGE:
            text, level = f"STAGE {stage} reached ({episode_id})", "INFO"
        else:
            text, level = f"INCOMPLETE {episode_id}" + (f": {detail}" if detail else ""), "WARN"
        return [Record(EVENTS_PATH, TEXT_LOG, stamp_ns, text, level), self._status(stamp_ns)]

    def _status(self, stamp_ns: int) -> Record:
        lines = [f"## In control: {SOURCE_NAMES.get(self._source, '-')}",
                 f"takeovers this episode: {self._takeovers}",
                 f"episode: {self._episode or '-'}" + (f" ({self._task})" if self._task else ""),
                 f"outcome: {self._outcome or '-'}"]
        return Record(STATUS_PATH, DOCUMENT, stamp_ns, "\n\n".join(lines))
