"""Turn live topic streams into control ticks for EpisodeWriter.write_tick (pure, no ROS).

On the ROS graph the pieces of one control tick arrive as separate messages: the
observation (/joint_states, object state, camera images), the policy's proposal
(/policy/command, stamped with the /joint_states stamp it answers), the arbiter's decision
(/intervention/state) and the command it sent (/hand/command). A tick is announced by one
message (the tick topic); its observation is the latest one received before that moment.

The command of a tick can arrive after the tick message (the arbiter publishes both in the
same callback, in an order DDS does not promise across topics; without an arbiter the
command answering /joint_states comes after it). So a tick is held back until the next
tick message (or the end of the episode) and then completed: the command and the policy
proposal are looked up by stamp among the recently received ones, the command falling
back to the latest one received (unstamped controller commands have no stamp to match).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .schema import EDGE_NONE, EDGE_TAKEOVER, REASON_EPISODE_BOUNDARY, REASON_NONE, SOURCE_HUMAN

# Enough for several control periods of messages: matching looks a few ticks back at most.
RECENT_MESSAGES = 32


@dataclass(frozen=True)
class InterventionSample:
    """The fields of one dexpie_msgs/InterventionState that an episode stores."""

    stamp_ns: int
    source: int
    edge: int = EDGE_NONE
    reason: int = REASON_NONE
    intervention_id: int = 0
    human_idle_time: float = 0.0
    detail: str = ""
    tick: int | None = None  # the arbiter's tick index since its episode started (None: unknown)


@dataclass
class TickRecord:
    """Everything EpisodeWriter.write_tick needs for one tick (keyword arguments)."""

    stamp_ns: int
    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    command: np.ndarray
    object_state: np.ndarray | None = None
    policy_command: np.ndarray | None = None
    source: int = 0
    edge: int = 0
    reason: int = 0
    intervention_id: int = 0
    images: dict[str, np.ndarray] | None = None
    human_idle_time: float = 0.0
    detail: str = ""

    def as_kwargs(self) -> dict:
        return dict(self.__dict__)


class RecentValues:
    """The last few (stamp, value) pairs of one stream, in arrival order."""

    def __init__(self, size: int = RECENT_MESSAGES) -> None:
        self._items: deque[tuple[int | None, np.ndarray]] = deque(maxlen=size)

    def add(self, stamp_ns: int | None, value: np.ndarray) -> None:
        self._items.append((stamp_ns, value))

    def clear(self) -> None:
        self._items.clear()

    def latest(self) -> np.ndarray | None:
        return self._items[-1][1] if self._items else None

    def matching(self, stamps: set[int]) -> np.ndarray | None:
        """The newest value whose stamp is one of `stamps`, or None."""
        for stamp, value in reversed(self._items):
            if stamp is not None and stamp in stamps:
                return value
        return None


@dataclass
class _Observation:
    stamp_ns: int
    positions: np.ndarray
    velocities: np.ndarray


@dataclass
class _PendingTick:
    stamp_ns: int
    observation: _Observation
    object_state: np.ndarray | None
    images: dict[str, np.ndarray]
    intervention: InterventionSample | None  # None: no arbiter, the source is configured


@dataclass
class LatestStreams:
    """The latest value of every observation stream, kept whether or not an episode runs."""

    joint_state: _Observation | None = None
    object_names: tuple[str, ...] = ()
    object_values: np.ndarray | None = None
    images: dict[str, np.ndarray] = field(default_factory=dict)
    policy_commands: RecentValues = field(default_factory=RecentValues)
    commands: RecentValues = field(default_factory=RecentValues)

    def set_joint_state(self, stamp_ns: int, positions: np.ndarray, velocities: np.ndarray) -> None:
        self.joint_state = _Observation(stamp_ns, positions, velocities)

    def set_object_state(self, names: tuple[str, ...], values: np.ndarray) -> None:
        self.object_names, self.object_values = tuple(names), values

    def object_state_for(self, names: tuple[str, ...]) -> tuple[np.ndarray | None, str | None]:
        """Values in the order of `names`, or (None, why not)."""
        if self.object_values is None:
            return None, "no object state received yet"
        if self.object_names == names:
            return self.object_values, None
        index = {name: i for i, name in enumerate(self.object_names)}
        missing = [name for name in names if name not in index]
        if missing:
            return None, f"object state lacks {missing}"
        return self.object_values[[index[name] for name in names]], None


class TickAssembler:
    """Builds the ticks of one episode from `LatestStreams`, one tick behind the tick topic."""

    def __init__(
        self,
        streams: LatestStreams,
        object_names: tuple[str, ...],
        cameras: tuple[str, ...],
        source_without_arbiter: int,
    ) -> None:
        self._streams = streams
        self._object_names = object_names
        self._cameras = cameras
        self._source_without_arbiter = source_without_arbiter
        self._pending: _PendingTick | None = None
        self._last_stamp_ns: int | None = None

    @property
    def has_pending(self) -> bool:
        return self._pending is not None

    @property
    def latest_stamp_ns(self) -> int | None:
        return self._last_stamp_ns

    def hold(self, stamp_ns: int, intervention: InterventionSample | None) -> str | None:
        """Snapshot the observation of a new tick; returns why it cannot be a tick, or None."""
        observation = self._streams.joint_state
        if observation is None:
            return "no /joint_states received yet"
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            # Reported without the numbers: problems are counted by their text.
            return "tick stamp is not after the previous tick's"
        object_state = None
        if self._object_names:
            object_state, problem = self._streams.object_state_for(self._object_names)
            if problem:
                return problem
        missing = [name for name in self._cameras if name not in self._streams.images]
        if missing:
            return f"no image received yet from camera(s) {missing}"
        images = {name: self._streams.images[name] for name in self._cameras}
        self._pending = _PendingTick(stamp_ns, observation, object_state, images, intervention)
        self._last_stamp_ns = stamp_ns
        return None

    def complete_pending(self, first: bool) -> tuple[TickRecord | None, str | None]:
        """The held tick with its command, or (None, why it cannot be written).

        first: no tick of the episode has been written yet.
        """
        pending, self._pending = self._pending, None
        if pending is None:
            return None, None
        stamps = {pending.stamp_ns, pending.observation.stamp_ns}
        command = self._streams.commands.matching(stamps)
        if command is None:
            command = self._streams.commands.latest()
        if command is None:
            return None, "no command received yet"
        record = TickRecord(
            stamp_ns=pending.stamp_ns,
            joint_positions=pending.observation.positions,
            joint_velocities=pending.observation.velocities,
            command=command,
            object_state=pending.object_state,
            # No proposal answering this observation: the policy proposed nothing this tick.
            policy_command=self._streams.policy_commands.matching(stamps),
            images=pending.images or None,
        )
        self._set_intervention(record, pending.intervention, first)
        return record, None

    def _set_intervention(
        self, record: TickRecord, sample: InterventionSample | None, first: bool
    ) -> None:
        if sample is not None:
            record.source, record.edge, record.reason = sample.source, sample.edge, sample.reason
            record.intervention_id = sample.intervention_id
            record.human_idle_time, record.detail = sample.human_idle_time, sample.detail
            return
        record.source = self._source_without_arbiter
        if record.source == SOURCE_HUMAN:
            # Like the in-process demonstrations: one intervention spanning the whole episode.
            record.intervention_id = 1
            record.edge = EDGE_TAKEOVER if first else EDGE_NONE
            record.reason = REASON_EPISODE_BOUNDARY if first else REASON_NONE
