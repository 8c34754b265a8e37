"""What an episode bag contains: topics, message types, constants and the in-memory records.

An episode is one rosbag2 bag (MCAP storage). The topics and message types are the ones
the ROS graph publishes, so a bag recorded by the ROS recorder and a bag written in-process
by the simulation read the same way. The numeric constants mirror dexpie_msgs (this module
must not import the message package: the episode format is a pure core).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dexpie_common import topics
from dexpie_common.hand import HandDescription

# Bumped when the layout of a bag changes in a way an older reader cannot read.
FORMAT_VERSION = "dexpie-episode/1"

# ---- topics (the names live in dexpie_common.topics, with the live graph's) ----------------
TOPIC_JOINT_STATES = topics.BAG_JOINT_STATES
TOPIC_HAND_COMMAND = topics.BAG_HAND_COMMAND  # one message per control tick: defines the ticks
TOPIC_POLICY_COMMAND = topics.BAG_POLICY_COMMAND
TOPIC_OBJECT_STATE = topics.BAG_OBJECT_STATE  # not the live topics.SIM_OBJECT_STATE: see there
TOPIC_INTERVENTION_STATE = topics.BAG_INTERVENTION_STATE
TOPIC_ACTION_CHUNK = topics.BAG_ACTION_CHUNK
TOPIC_EPISODE_EVENTS = topics.BAG_EPISODE_EVENTS
REQUIRED_TOPICS = (
    TOPIC_JOINT_STATES,
    TOPIC_HAND_COMMAND,
    TOPIC_INTERVENTION_STATE,
    TOPIC_EPISODE_EVENTS,
)

camera_topic = topics.camera_topic  # the one for live topics too (re-exported by dexpie_episode)

IMAGE_ENCODING = "rgb8"

# ---- message types ------------------------------------------------------------------------
JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
IMAGE_TYPE = "sensor_msgs/msg/Image"
ACTION_CHUNK_TYPE = "dexpie_msgs/msg/ActionChunk"
EPISODE_EVENT_TYPE = "dexpie_msgs/msg/EpisodeEvent"
INTERVENTION_STATE_TYPE = "dexpie_msgs/msg/InterventionState"
DEXPIE_MESSAGE_NAMES = ("ActionChunk", "EpisodeEvent", "InterventionState")

# ---- constants mirrored from dexpie_msgs (checked against the .msg files by the tests) ----
SOURCE_POLICY = 0
SOURCE_HUMAN = 1
SOURCE_SAFETY_HOLD = 2

EDGE_NONE = 0
EDGE_TAKEOVER = 1
EDGE_HANDBACK = 2
EDGE_HOLD = 3

REASON_NONE = 0
REASON_BUTTON = 1
REASON_DEVICE_MOTION = 2
REASON_HUMAN_IDLE = 3
REASON_STALE_INPUT = 4
REASON_ESTOP = 5
REASON_EPISODE_BOUNDARY = 6

EVENT_START = 0
EVENT_END = 1
EVENT_STAGE = 2
EVENT_INCOMPLETE = 3

OUTCOME_UNKNOWN = 0
OUTCOME_SUCCESS = 1
OUTCOME_FAILURE = 2
OUTCOME_ABORTED = 3
FINAL_OUTCOMES = (OUTCOME_SUCCESS, OUTCOME_FAILURE, OUTCOME_ABORTED)
OUTCOME_NAMES = {
    OUTCOME_UNKNOWN: "unknown",
    OUTCOME_SUCCESS: "success",
    OUTCOME_FAILURE: "failure",
    OUTCOME_ABORTED: "aborted",
}

# Episode ids are folder names: keep them portable and unambiguous with the state suffixes.
EPISODE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


class EpisodeFormatError(Exception):
    """A bag is not a readable, finished episode. The message names the bag and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


class IncompleteEpisodeError(EpisodeFormatError):
    """The episode was never finished (writer crashed, was killed, or raised)."""


@dataclass(frozen=True)
class EpisodeMeta:
    """What is known about an episode when it starts (the outcome comes at the end)."""

    task: str
    stage: str
    seed: int
    joint_names: tuple[str, ...]
    control_dt: float
    object_names: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    note: str = ""
    # The hand description (joints, device groups, limits, rate, step limit). Every recorder
    # of ours writes it; bags recorded without it get one at training time (`--hand FILE`).
    hand: HandDescription | None = None

    def __post_init__(self) -> None:
        # Accept lists from callers, store tuples so the metadata is hashable and immutable.
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "object_names", tuple(self.object_names))
        object.__setattr__(self, "cameras", tuple(self.cameras))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "control_dt", float(self.control_dt))
        if not self.task:
            raise ValueError("EpisodeMeta.task must not be empty")
        if not self.stage:
            raise ValueError("EpisodeMeta.stage must not be empty")
        if not self.joint_names:
            raise ValueError("EpisodeMeta.joint_names must not be empty")
        for label, names in (
            ("joint_names", self.joint_names),
            ("object_names", self.object_names),
            ("cameras", self.cameras),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"EpisodeMeta.{label} has duplicates: {list(names)}")
            if any(not isinstance(name, str) or not name for name in names):
                raise ValueError(f"EpisodeMeta.{label} must be non-empty strings: {list(names)}")
        for camera in self.cameras:
            if "/" in camera:
                raise ValueError(f"camera name {camera!r} must not contain '/'")
        if not (np.isfinite(self.control_dt) and self.control_dt > 0.0):
            raise ValueError(f"EpisodeMeta.control_dt must be > 0, got {self.control_dt}")
        if self.hand is not None:
            check_hand_matches(self.hand, self)


def check_hand_matches(hand: HandDescription, meta: "EpisodeMeta") -> None:
    """The hand description must describe the recorded joints, objects and rate (ValueError
    naming the field otherwise)."""
    if hand.joint_names != meta.joint_names:
        raise ValueError(f"the hand description's joint_names {list(hand.joint_names)} are not "
                         f"the recorded joints {list(meta.joint_names)}")
    if hand.object_names != meta.object_names:
        raise ValueError(f"the hand description's object_names {list(hand.object_names)} are "
                         f"not the recorded object features {list(meta.object_names)}")
    if abs(hand.control_dt - meta.control_dt) > 1e-6 * meta.control_dt:
        raise ValueError(f"the hand description's control_rate_hz {hand.control_rate_hz} does "
                         f"not match the recorded control_dt {meta.control_dt}")


@dataclass
class ActionChunkRecord:
    """One dexpie_msgs/ActionChunk, with its flat arrays reshaped."""

    stamp_ns: int
    chunk_id: int
    observation_stamp_ns: int
    joint_names: tuple[str, ...]
    anchor: np.ndarray  # (J,)
    actions: np.ndarray  # (horizon, action_dim), in the trained representation
    targets: np.ndarray  # (horizon, J), absolute joint position targets
    group_names: tuple[str, ...] = ()
    group_representations: tuple[str, ...] = ()
    group_joint_names: tuple[str, ...] = ()
    delay_steps: int = 0
    start_index: int = 0
    inference_latency: float = 0.0
    optimality: float = float("nan")
    cfg_scale: float = 1.0
    # Index of the last control tick at or before `stamp_ns` (-1: before the first tick).
    # Filled by the reader; ignored by the writer.
    tick: int = -1

    @property
    def horizon(self) -> int:
        return int(self.actions.shape[0])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[1])


@dataclass
class Episode:
    """A finished episode read back from its bag, aligned on the control ticks."""

    path: Path
    episode_id: str
    meta: EpisodeMeta
    outcome: int
    format_version: str
    stamp_ns: np.ndarray  # (T,) int64, header stamps of the /hand/command ticks
    time: np.ndarray  # (T,) float64 seconds since the first tick
    joint_positions: np.ndarray  # (T, J)
    joint_velocities: np.ndarray  # (T, J)
    command: np.ndarray  # (T, J) targets sent to the hand
    policy_command: np.ndarray | None  # (T, J), NaN rows where the policy proposed nothing
    object_state: np.ndarray | None  # (T, K)
    source: np.ndarray  # (T,) uint8 SOURCE_*
    edge: np.ndarray  # (T,) uint8 EDGE_*
    reason: np.ndarray  # (T,) uint8 REASON_*
    intervention_id: np.ndarray  # (T,) uint32
    images: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (T, H, W, 3) uint8
    chunks: list[ActionChunkRecord] = field(default_factory=list)
    stages: list[tuple[int, str]] = field(default_factory=list)  # (tick, stage reached)

    @property
    def intervention(self) -> np.ndarray:
        """(T,) bool: the human operator commanded the hand on this tick."""
        return self.source == SOURCE_HUMAN

    @property
    def num_ticks(self) -> int:
        return int(self.stamp_ns.shape[0])

    @property
    def success(self) -> bool:
        return self.outcome == OUTCOME_SUCCESS

    # Shortcuts so training code can write episode.task instead of episode.meta.task.
    @property
    def task(self) -> str:
        return self.meta.task

    @property
    def stage(self) -> str:
        return self.meta.stage

    @property
    def seed(self) -> int:
        return self.meta.seed

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.meta.joint_names

    @property
    def object_names(self) -> tuple[str, ...]:
        return self.meta.object_names

    @property
    def control_dt(self) -> float:
        return self.meta.control_dt

    @property
    def note(self) -> str:
        return self.meta.note
