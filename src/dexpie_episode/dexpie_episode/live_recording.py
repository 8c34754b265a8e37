"""LiveRecorder: episodes recorded from live streams, one EpisodeWriter per episode (pure core
of the episode_recorder node; no rclpy, no message packages).

The node converts every message to plain values and calls the `on_*` methods; `start` and
`end` are its services. Ticks are assembled by `TickAssembler` (see live_ticks.py) and
written with the same EpisodeWriter the in-process simulation uses, so a recorded bag reads
back exactly like a simulated one.

Crash safety comes from the episode layout (layout.py): an episode being written lives in
`<id>.partial/` under a lock, and only a closed bag is renamed to its finished name. A
recorder killed mid-episode leaves a `.partial` behind; `recover_unfinished` (run at
start-up) sets every such leftover aside as `.incomplete` and reports it. A sidecar file
in the staging folder remembers the episode's task, stage and seed for that report.

Nothing lost, nothing hidden:
- Readiness: the recorder refuses `start` (RecorderNotReady, message starting with
  NOT_READY) until it has received at least one message on every stream it records (the
  tick topic, /joint_states, the command topic, every camera, the object state when its
  names are configured). An episode started earlier would lose its first ticks to streams
  whose subscriptions had not matched yet.
- Lost ticks: a control tick that reached the recorder but could not be written (a stream
  it needs had not arrived, its stamp was not after the previous one, its data was invalid)
  is lost; an episode that lost ticks is set aside as incomplete at its end (reason
  TICKS_LOST, with the count and the causes), never published as if it were whole. Ticks the
  arbiter published before it saw the episode's START are not the episode's (not lost); ticks
  beyond max_episode_ticks are the configured bound (said in the END message: truncated).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexpie_common import topics
from dexpie_common.hand import HandDescription

from . import layout
from .schema import (
    EVENT_END,
    EVENT_INCOMPLETE,
    EVENT_START,
    FINAL_OUTCOMES,
    OUTCOME_NAMES,
    OUTCOME_UNKNOWN,
    SOURCE_POLICY,
    ActionChunkRecord,
    EpisodeMeta,
)
from .live_ticks import InterventionSample, LatestStreams, TickAssembler
from .writer import EpisodeWriter

LOG = logging.getLogger(__name__)

# Written into `<id>.partial/` next to the bag; travels with it when it is set aside.
RECORDING_NOTE = "recording.json"


# Every refusal of /episode/start because a recorded stream has not arrived yet starts with
# this text, so that a client can tell "wait and retry" from a real refusal.
NOT_READY = "recorder not ready"
# The named reason of an episode set aside because some of its control ticks were not recorded.
TICKS_LOST = "ticks lost"


class RecorderRequestError(ValueError):
    """A start/end request that cannot be honoured; nothing was changed."""


class RecorderNotReady(RecorderRequestError):
    """/episode/start before every recorded stream has been received at least once."""


@dataclass(frozen=True)
class RecorderConfig:
    joint_names: tuple[str, ...]
    control_dt: float
    cameras: tuple[str, ...] = ()
    ticks_from_arbiter: bool = True  # a tick is an /intervention/state (else a /joint_states)
    source_without_arbiter: int = SOURCE_POLICY
    record_object_state: bool = True
    # Fixed object state layout; empty: the names of the object state received before a start.
    object_names: tuple[str, ...] = ()
    max_episode_ticks: int = 36_000
    durable: bool = True  # fsync a finished bag before publishing it
    hand: HandDescription | None = None  # written into every episode's metadata
    command_topic: str = topics.HAND_COMMAND  # where on_command's messages come from (for messages)
    ros_distro: str | None = None  # metadata.yaml's ros_distro (the live recorder: the running ROS)

    def required_topics(self) -> tuple[str, ...]:
        """The streams that must have been received before an episode may start."""
        required = [topics.INTERVENTION_STATE] if self.ticks_from_arbiter else []
        required += [topics.JOINT_STATES, self.command_topic]
        required += [topics.camera_topic(name) for name in self.cameras]
        if self.record_object_state and self.object_names:
            required.append(topics.SIM_OBJECT_STATE)
        return tuple(dict.fromkeys(required))


@dataclass(frozen=True)
class EventRecord:
    """What an EpisodeEvent on /episode/events says."""

    event: int
    episode_id: str
    task: str = ""
    stage: str = ""
    outcome: int = OUTCOME_UNKNOWN
    seed: int = -1
    bag_path: str = ""
    detail: str = ""


@dataclass(frozen=True)
class StartedEpisode:
    episode_id: str
    bag_path: str  # where the finished bag will be
    message: str


@dataclass(frozen=True)
class EndedEpisode:
    complete: bool  # False: set aside as incomplete (no tick recorded, ticks lost, or the bag failed)
    episode_id: str
    bag_path: str
    num_ticks: int
    message: str


def write_recording_note(staging: Path, meta: EpisodeMeta, episode_id: str) -> None:
    note = {"episode_id": episode_id, "task": meta.task, "stage": meta.stage, "seed": meta.seed}
    temporary = staging / (RECORDING_NOTE + ".tmp")
    temporary.write_text(json.dumps(note), encoding="utf-8")
    os.replace(temporary, staging / RECORDING_NOTE)


def read_recording_note(folder: Path) -> dict:
    """Task, stage and seed of an unfinished episode folder ({} when unknown)."""
    try:
        note = json.loads((folder / RECORDING_NOTE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return note if isinstance(note, dict) else {}


def outcome_label(outcome: int) -> str:
    return OUTCOME_NAMES.get(outcome, str(outcome)).upper()


class _Episode:
    """One running episode: its writer, tick assembly and bookkeeping."""

    def __init__(self, writer: EpisodeWriter, assembler: TickAssembler,
                 arbiter_tick_before: int | None = None) -> None:
        self.writer = writer
        self.assembler = assembler
        self.skipped: Counter[str] = Counter()  # every tick not recorded, by reason
        self.lost: Counter[str] = Counter()     # of those, the episode's own ticks (see module doc)
        self.last_stage = writer.meta.stage
        self.truncated = False
        # The arbiter restarts its tick count when it sees the episode's START; until then its
        # ticks (a state published before it saw START) belong to what came before.
        self.arbiter_tick_before = arbiter_tick_before
        self.arbiter_started = arbiter_tick_before is None

    def arbiter_in_episode(self, tick: int | None) -> bool:
        """Whether an arbiter tick with this index belongs to the episode: once the count
        restarts (drops below the last index seen before START, or reads 0) it does."""
        if not self.arbiter_started and (tick is None or tick == 0 or tick < self.arbiter_tick_before):
            self.arbiter_started = True
        return self.arbiter_started

    @property
    def num_ticks(self) -> int:
        return self.writer.num_ticks + int(self.assembler.has_pending)

    def event(
        self, event: int, outcome: int = OUTCOME_UNKNOWN, detail: str = "", bag_path: str = ""
    ) -> EventRecord:
        meta, writer = self.writer.meta, self.writer
        return EventRecord(event, writer.episode_id, meta.task, meta.stage, outcome, meta.seed,
                           bag_path or str(writer.finished_path), detail)


class LiveRecorder:
    """Records episodes into `output_dir`; `notify` receives every episode event."""

    def __init__(
        self,
        output_dir: Path | str,
        config: RecorderConfig,
        notify: Callable[[EventRecord], None] = lambda event: None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.config = config
        self._notify = notify
        self.streams = LatestStreams()
        self._episode: _Episode | None = None
        self._last_arbiter_tick: int | None = None
        self._seen: set[str] = set()   # recorded streams received at least once
        self._ready = False
        self.output_dir.mkdir(parents=True, exist_ok=True)

    # ---- state ---------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self._episode is not None

    @property
    def episode_id(self) -> str | None:
        return None if self._episode is None else self._episode.writer.episode_id

    @property
    def num_ticks(self) -> int:
        """Ticks of the running episode so far (written or held back), 0 when idle."""
        return 0 if self._episode is None else self._episode.num_ticks

    @property
    def skipped(self) -> Counter[str]:
        return Counter() if self._episode is None else Counter(self._episode.skipped)

    @property
    def lost(self) -> Counter[str]:
        """Ticks of the running episode lost so far, by reason."""
        return Counter() if self._episode is None else Counter(self._episode.lost)

    # ---- readiness -------------------------------------------------------------------------
    def missing_streams(self) -> list[str]:
        """Recorded streams not usable yet (topic names; the object state with what it lacks)."""
        if self._ready:
            return []
        missing = [topic for topic in self.config.required_topics() if topic not in self._seen]
        if topics.SIM_OBJECT_STATE in self._seen and topics.SIM_OBJECT_STATE in self.config.required_topics():
            _, problem = self.streams.object_state_for(self.config.object_names)
            if problem:
                missing.append(f"{topics.SIM_OBJECT_STATE} ({problem})")
        return missing

    @property
    def ready(self) -> bool:
        """Every recorded stream has been received: episodes may start (stays True)."""
        if not self._ready:
            self._ready = not self.missing_streams()
        return self._ready

    # ---- start-up ------------------------------------------------------------------------
    def recover_unfinished(self) -> list[EventRecord]:
        """Set aside the `.partial` leftovers of dead recorders; report each as INCOMPLETE."""
        events = []
        for path in layout.recover_partial_episodes(self.output_dir):
            note = read_recording_note(path)
            event = EventRecord(
                EVENT_INCOMPLETE,
                episode_id=path.name[: -len(layout.INCOMPLETE_SUFFIX)],
                task=str(note.get("task", "")),
                stage=str(note.get("stage", "")),
                seed=int(note.get("seed", -1)),
                bag_path=str(path),
                detail="found unfinished at start-up (its recorder died); set aside as incomplete",
            )
            events.append(event)
            self._notify(event)
        return events

    # ---- live streams --------------------------------------------------------------------
    def on_joint_state(
        self, stamp_ns: int, positions: np.ndarray, velocities: np.ndarray, arrival_ns: int
    ) -> str | None:
        """Every /joint_states; a tick when there is no arbiter. Returns a tick problem."""
        self.streams.set_joint_state(_stamp(stamp_ns, arrival_ns), positions, velocities)
        self._seen.add(topics.JOINT_STATES)
        if self.config.ticks_from_arbiter:
            return None
        return self._tick(_stamp(stamp_ns, arrival_ns), None)

    def on_intervention(self, sample: InterventionSample, arrival_ns: int) -> str | None:
        """Every /intervention/state: one control tick. Returns a tick problem, or None."""
        if not self.config.ticks_from_arbiter:
            return None
        self._seen.add(topics.INTERVENTION_STATE)
        episode = self._episode
        self._last_arbiter_tick = sample.tick
        if episode is not None and not episode.arbiter_in_episode(sample.tick):
            reason = "the arbiter had not started the episode yet (a tick from before its START)"
            episode.skipped[reason] += 1
            return f"tick not recorded: {reason}"
        return self._tick(_stamp(sample.stamp_ns, arrival_ns), sample)

    def on_object_state(self, names: tuple[str, ...], values: np.ndarray) -> None:
        self.streams.set_object_state(names, values)
        self._seen.add(topics.SIM_OBJECT_STATE)

    def on_image(self, camera: str, pixels: np.ndarray) -> None:
        if camera in self.config.cameras:
            self.streams.images[camera] = pixels
            self._seen.add(topics.camera_topic(camera))

    def on_policy_command(self, stamp_ns: int, positions: np.ndarray) -> None:
        self.streams.policy_commands.add(stamp_ns, positions)

    def on_command(self, stamp_ns: int | None, positions: np.ndarray) -> None:
        """The command sent to the hand (stamp None: an unstamped controller command)."""
        self.streams.commands.add(stamp_ns, positions)
        self._seen.add(self.config.command_topic)

    def on_chunk(self, chunk: ActionChunkRecord) -> str | None:
        """Store an action chunk in the running episode; returns why it was dropped, or None."""
        episode = self._episode
        if episode is None:
            return None
        try:
            episode.writer.write_chunk(
                chunk.stamp_ns, chunk.chunk_id, chunk.observation_stamp_ns, chunk.anchor,
                chunk.actions, chunk.targets, joint_names=chunk.joint_names,
                group_names=chunk.group_names, group_representations=chunk.group_representations,
                group_joint_names=chunk.group_joint_names, delay_steps=chunk.delay_steps,
                start_index=chunk.start_index, inference_latency=chunk.inference_latency,
                optimality=chunk.optimality, cfg_scale=chunk.cfg_scale,
            )
        except ValueError as error:
            return f"action chunk {chunk.chunk_id} dropped: {error}"
        except OSError as error:
            self._abort_on_write_error(error)
            return f"episode aborted: cannot write its bag: {error}"
        return None

    def on_stage(self, stage: str) -> None:
        """The task reports the stage it has reached; a change is stored as a STAGE event."""
        episode = self._episode
        if episode is None or not stage or stage == episode.last_stage:
            return
        stamp = episode.assembler.latest_stamp_ns
        if stamp is None and self.streams.joint_state is not None:
            stamp = self.streams.joint_state.stamp_ns
        if stamp is None:
            return
        episode.last_stage = stage
        try:
            episode.writer.write_stage(stamp, stage)
        except OSError as error:
            self._abort_on_write_error(error)

    # ---- services ------------------------------------------------------------------------
    def start(self, task: str, stage: str, seed: int, note: str = "") -> StartedEpisode:
        if self._episode is not None:
            raise RecorderRequestError(
                f"episode {self.episode_id} is still running: end it (/episode/end) first"
            )
        if not self.ready:
            raise RecorderNotReady(
                f"{NOT_READY}: nothing received yet on {', '.join(self.missing_streams())}; an "
                f"episode starts only once every recorded stream has arrived (its first ticks "
                f"would be lost otherwise): retry when the graph is up"
            )
        object_names = ()
        warnings = []
        if self.config.record_object_state:
            object_names = self.config.object_names or self.streams.object_names
            if not object_names:
                warnings.append("no object state received: recording without it")
        try:
            meta = EpisodeMeta(task=task, stage=stage, seed=seed, note=note,
                               joint_names=self.config.joint_names, control_dt=self.config.control_dt,
                               object_names=object_names, cameras=self.config.cameras,
                               hand=self.config.hand)
        except ValueError as error:
            raise RecorderRequestError(f"cannot start the episode: {error}") from None
        try:
            writer = EpisodeWriter(self.output_dir, meta,
                                   layout.new_episode_id(task, stage), durable=self.config.durable,
                                   ros_distro=self.config.ros_distro)
        except (OSError, ValueError) as error:
            raise RecorderRequestError(f"cannot create the episode bag: {error}") from None
        try:
            write_recording_note(layout.staging_dir(self.output_dir, writer.episode_id), meta,
                                 writer.episode_id)
        except OSError as error:
            writer.abort(f"cannot write the recording note: {error}")
            raise RecorderRequestError(f"cannot start the episode: {error}") from None
        assembler = TickAssembler(self.streams, object_names, self.config.cameras,
                                  self.config.source_without_arbiter)
        # Only messages from now on may give a tick its command or policy proposal.
        self.streams.commands.clear()
        self.streams.policy_commands.clear()
        self._episode = _Episode(writer, assembler, self._last_arbiter_tick)
        self._notify(self._episode.event(EVENT_START, detail=note))
        message = f"recording episode {writer.episode_id}"
        if warnings:
            message += " (" + "; ".join(warnings) + ")"
        return StartedEpisode(writer.episode_id, str(writer.finished_path), message)

    def end(self, outcome: int, note: str = "") -> EndedEpisode:
        episode = self._episode
        if episode is None:
            raise RecorderRequestError("no episode is running: start one (/episode/start) first")
        if outcome not in FINAL_OUTCOMES:
            labels = ", ".join(f"{outcome_label(o)} ({o})" for o in FINAL_OUTCOMES)
            raise RecorderRequestError(
                f"outcome {outcome} is not an episode label; use one of {labels}"
            )
        self._complete_pending(episode)
        self._episode = None
        writer = episode.writer
        start_note = writer.meta.note
        full_note = "; ".join(n for n in (start_note, note) if n)
        summary = _skip_summary(episode)
        lost = sum(episode.lost.values())
        if lost:
            target = writer.abort(f"{TICKS_LOST}: {lost} control ticks not recorded{summary}")
            total = writer.num_ticks + lost
            reason = (f"episode {writer.episode_id} {TICKS_LOST}: {lost} of its {total} control ticks "
                      f"were not recorded{summary}; it is not the episode that ran")
            self._notify(episode.event(EVENT_INCOMPLETE, outcome=outcome, detail=reason,
                                       bag_path=str(target)))
            return EndedEpisode(False, writer.episode_id, str(target), writer.num_ticks,
                                f"{reason}; set aside as incomplete at {target}")
        try:
            path = writer.close(outcome, note=full_note)
        except (ValueError, OSError) as error:
            if not writer.closed:
                writer.abort(f"could not close: {error}")
            target = layout.incomplete_dir(self.output_dir, writer.episode_id)
            reason = f"episode {writer.episode_id} could not be finished: {error}{summary}"
            self._notify(episode.event(EVENT_INCOMPLETE, detail=reason, bag_path=str(target)))
            return EndedEpisode(False, writer.episode_id, str(target), writer.num_ticks,
                                f"{reason}; set aside as incomplete at {target}")
        self._notify(episode.event(EVENT_END, outcome=outcome, detail=full_note))
        truncated = (f", truncated at max_episode_ticks={self.config.max_episode_ticks}"
                     if episode.truncated else "")
        return EndedEpisode(True, writer.episode_id, str(path), writer.num_ticks,
                            f"episode {writer.episode_id} ended {outcome_label(outcome)} with "
                            f"{writer.num_ticks} ticks{truncated}{summary}")

    def shutdown(self, reason: str) -> EventRecord | None:
        """Set the running episode aside as incomplete (the recorder is stopping)."""
        episode, self._episode = self._episode, None
        if episode is None:
            return None
        target = episode.writer.abort(reason)
        event = episode.event(EVENT_INCOMPLETE, detail=reason, bag_path=str(target))
        self._notify(event)
        return event

    # ---- ticks ---------------------------------------------------------------------------
    def _tick(self, stamp_ns: int, sample: InterventionSample | None) -> str | None:
        episode = self._episode
        if episode is None:
            return None
        problem = self._complete_pending(episode)
        if self._episode is None:  # the bag failed while writing the previous tick
            return problem
        if episode.num_ticks >= self.config.max_episode_ticks:
            episode.truncated = True
            reason = f"max_episode_ticks ({self.config.max_episode_ticks}) reached"
            episode.skipped[reason] += 1
            return f"tick not recorded: {reason}"
        reason = episode.assembler.hold(stamp_ns, sample)
        if reason is not None:
            problem = self._lose(episode, reason)
        return problem

    @staticmethod
    def _lose(episode: _Episode, reason: str) -> str:
        episode.skipped[reason] += 1
        episode.lost[reason] += 1
        return f"tick lost: {reason}"

    def _complete_pending(self, episode: _Episode) -> str | None:
        record, reason = episode.assembler.complete_pending(first=episode.writer.num_ticks == 0)
        if record is None:
            if reason is None:
                return None
            return self._lose(episode, reason)
        try:
            episode.writer.write_tick(**record.as_kwargs())
        except ValueError as error:
            return f"{self._lose(episode, 'invalid tick data')}: {error}"
        except OSError as error:
            self._abort_on_write_error(error)
            return f"episode aborted: cannot write its bag: {error}"
        return None

    def _abort_on_write_error(self, error: OSError) -> None:
        """A bag that cannot be written (disk full...) ends the episode as incomplete."""
        LOG.error("episode %s: bag write failed: %s", self.episode_id, error)
        self.shutdown(f"bag write failed: {error}")


def _stamp(stamp_ns: int, arrival_ns: int) -> int:
    # A zero header stamp means "not stamped": the arrival time is the best estimate.
    return stamp_ns if stamp_ns > 0 else arrival_ns


def _skip_summary(episode: _Episode) -> str:
    if not episode.skipped:
        return ""
    parts = ", ".join(f"{count} x {reason}" for reason, count in episode.skipped.most_common())
    return f" (ticks not recorded: {parts})"
