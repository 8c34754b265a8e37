"""read_episode: one finished episode bag -> Episode with arrays aligned on the control ticks.

Messages are deserialized with the type definitions stored in the bag (like rosbags'
AnyReader, see bag_types.py for why not AnyReader itself), so a bag stays readable even if
dexpie_msgs changes later. Every problem becomes an EpisodeFormatError naming the bag.

What a bag records must be usable as it is: a NaN or Inf on any control tick (joint states,
commands, object state, a proposal the policy made, an action chunk) is an error naming the
topic and the tick, and so is a metadata num_ticks other than the ticks recorded.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader, ReaderError
from rosbags.serde import SerdeError
from rosbags.typesys import TypesysError
from ruamel.yaml.error import YAMLError

from . import layout
from .bag_types import typestore_for_bag
from .joint_state_cdr import jazzy_joint_state_definition, joint_state_codec
from .metadata import (
    KEY_NUM_TICKS,
    BagInfo,
    decode_custom_data,
    read_bag_info,
    recorded_outcome,
)
from .schema import (
    ACTION_CHUNK_TYPE,
    EPISODE_EVENT_TYPE,
    EVENT_END,
    EVENT_INCOMPLETE,
    EVENT_STAGE,
    EVENT_START,
    IMAGE_TYPE,
    INTERVENTION_STATE_TYPE,
    JOINT_STATE_TYPE,
    REQUIRED_TOPICS,
    TOPIC_ACTION_CHUNK,
    TOPIC_EPISODE_EVENTS,
    TOPIC_HAND_COMMAND,
    TOPIC_INTERVENTION_STATE,
    TOPIC_JOINT_STATES,
    TOPIC_OBJECT_STATE,
    TOPIC_POLICY_COMMAND,
    ActionChunkRecord,
    Episode,
    EpisodeFormatError,
    EpisodeMeta,
    IncompleteEpisodeError,
    camera_topic,
)
from .streams import JointStateDecoder, Stream, align, decode_rgb8, stack_rows, stamp_ns
from .validation import non_finite_problem

# What a damaged bag makes rosbags (or numpy, on garbage array sizes) raise. Programming errors
# (AttributeError, TypeError, ...) are deliberately not in this list: they must surface.
_DAMAGED_BAG_ERRORS = (
    ReaderError,
    SerdeError,
    TypesysError,
    YAMLError,
    struct.error,
    OSError,
    EOFError,
    ValueError,
    IndexError,
    KeyError,
    UnicodeDecodeError,
    OverflowError,
    MemoryError,  # a garbage record length makes rosbags try to read exabytes
)


def read_episode(path: Path | str) -> Episode:
    """Read a finished episode bag directory. Raises EpisodeFormatError (naming the bag)."""
    path = Path(path)
    unfinished = layout.incomplete_error(path)
    if unfinished is not None:
        raise unfinished
    if not path.is_dir():
        raise EpisodeFormatError(path, "not an episode bag directory")
    if not (path / "metadata.yaml").is_file():
        raise EpisodeFormatError(path, "missing metadata.yaml: not a finished rosbag2 bag")
    try:
        return _read_bag(path)
    except EpisodeFormatError:
        raise
    except _DAMAGED_BAG_ERRORS as exc:
        raise EpisodeFormatError(
            path, f"cannot read bag (truncated or corrupt?): {type(exc).__name__}: {exc}"
        ) from exc


def _expected_topics(meta: EpisodeMeta) -> dict[str, str]:
    topics = {
        TOPIC_EPISODE_EVENTS: EPISODE_EVENT_TYPE,
        TOPIC_JOINT_STATES: JOINT_STATE_TYPE,
        TOPIC_HAND_COMMAND: JOINT_STATE_TYPE,
        TOPIC_INTERVENTION_STATE: INTERVENTION_STATE_TYPE,
    }
    if meta.object_names:
        topics[TOPIC_OBJECT_STATE] = JOINT_STATE_TYPE
    for name in meta.cameras:
        topics[camera_topic(name)] = IMAGE_TYPE
    assert set(REQUIRED_TOPICS) <= set(topics)
    return topics


def _storage_path(path: Path, info: BagInfo) -> Path:
    """What to open: the .mcap file itself when the bag is one plain MCAP file.

    Opening the file skips rosbags' second, pure-Python parse of metadata.yaml (~40% of the
    time to read a small episode); any other layout goes through the bag directory.
    """
    files = info.relative_file_paths
    if info.storage_identifier == "mcap" and len(files) == 1 and not info.compression_mode:
        storage_file = path / files[0]
        if storage_file.suffix == ".mcap" and storage_file.is_file():
            return storage_file
    return path


def _read_bag(path: Path) -> Episode:
    info = read_bag_info(path)
    meta, episode_id, outcome, format_version = decode_custom_data(path, info.custom_data)
    with Reader(_storage_path(path, info)) as reader:
        connection_types = {c.topic: c.msgtype for c in reader.connections}
        required = _expected_topics(meta)
        missing = [topic for topic in required if topic not in connection_types]
        if missing:
            raise EpisodeFormatError(path, f"missing required topic(s) {missing}")
        optional = {TOPIC_POLICY_COMMAND: JOINT_STATE_TYPE, TOPIC_ACTION_CHUNK: ACTION_CHUNK_TYPE}
        wanted = {**required, **{t: m for t, m in optional.items() if t in connection_types}}
        for topic, msgtype in wanted.items():
            if connection_types[topic] != msgtype:
                raise EpisodeFormatError(
                    path, f"{topic} has type {connection_types[topic]}, expected {msgtype}"
                )
        streams = _collect_streams(path, reader, meta, wanted)
    episode = _assemble(path, meta, episode_id, outcome, format_version, streams,
                        recorded_outcome(path, info.custom_data, outcome))
    _check_num_ticks(path, info.custom_data, episode.num_ticks)
    _check_finite(episode)
    return episode


def _check_num_ticks(path: Path, custom_data: dict[str, str] | None, recorded: int) -> None:
    """The metadata's num_ticks (written when the episode was closed) is the ticks recorded."""
    value = (custom_data or {}).get(KEY_NUM_TICKS)
    if value is None:  # bags written by other tools may not say
        return
    try:
        expected = int(value)
    except ValueError:
        raise EpisodeFormatError(path, f"metadata {KEY_NUM_TICKS} is not an integer: {value!r}"
                                 ) from None
    if expected != recorded:
        raise EpisodeFormatError(
            path, f"metadata {KEY_NUM_TICKS} is {expected}, but {recorded} control ticks "
            f"({TOPIC_HAND_COMMAND} messages) are recorded"
        )


def _check_finite(episode: Episode) -> None:
    """Every recorded value a tick uses is finite. Policy proposals: an all-NaN row is how an
    Episode marks a tick without one (demonstrations), so only the other rows are checked."""
    path, joints = episode.path, episode.meta.joint_names
    arrays = [
        (f"{TOPIC_JOINT_STATES} position", episode.joint_positions, joints, None),
        (f"{TOPIC_JOINT_STATES} velocity", episode.joint_velocities, joints, None),
        (f"{TOPIC_HAND_COMMAND} position", episode.command, joints, None),
    ]
    if episode.object_state is not None:
        arrays.append((f"{TOPIC_OBJECT_STATE} position", episode.object_state,
                       episode.meta.object_names, None))
    if episode.policy_command is not None:
        proposed = ~np.all(np.isnan(episode.policy_command), axis=1)
        arrays.append((f"{TOPIC_POLICY_COMMAND} position", episode.policy_command, joints,
                       proposed))
    for what, array, names, rows in arrays:
        problem = non_finite_problem(what, array, names, rows)
        if problem is not None:
            raise EpisodeFormatError(path, problem)
    for chunk in episode.chunks:
        for field in ("anchor", "actions", "targets"):
            values = np.asarray(getattr(chunk, field), dtype=np.float64)
            if not np.isfinite(values).all():
                raise EpisodeFormatError(
                    path, f"{TOPIC_ACTION_CHUNK} chunk {chunk.chunk_id} (tick {chunk.tick}) "
                    f"holds non-finite {field}"
                )


def _collect_streams(
    path: Path, reader: Reader, meta: EpisodeMeta, wanted: dict[str, str]
) -> dict[str, Stream]:
    joints, objects = meta.joint_names, meta.object_names
    joint_state_topics = {
        TOPIC_JOINT_STATES: (joints, True),
        TOPIC_HAND_COMMAND: (joints, False),
        TOPIC_POLICY_COMMAND: (joints, False),
        TOPIC_OBJECT_STATE: (objects, False),
    }
    decoders = {
        topic: JointStateDecoder(path, topic, names, with_velocity)
        for topic, (names, with_velocity) in joint_state_topics.items()
    }
    # The fast path is only valid for the JointState definition it was derived from (the
    # hash is not in the MCAP file, the definition text is).
    fast_codecs = {
        connection.topic: joint_state_codec(*joint_state_topics[connection.topic])
        for connection in reader.connections
        if connection.topic in joint_state_topics
        and connection.msgdef.data == jazzy_joint_state_definition()
    }
    streams = {topic: Stream(topic) for topic in wanted}
    connections = [c for c in reader.connections if c.topic in wanted]
    deserialize = typestore_for_bag(reader.connections).deserialize_cdr
    for connection, _, rawdata in reader.messages(connections=connections):
        topic = connection.topic
        codec = fast_codecs.get(topic)
        fast = codec.decode(rawdata) if codec is not None else None
        if fast is not None:
            stamp, position, velocity = fast
            streams[topic].add(stamp, (position, velocity))
            continue
        message: Any = deserialize(rawdata, connection.msgtype)
        stamp = stamp_ns(message.header)
        if topic in decoders:
            value: object = decoders[topic](message)
        elif topic == TOPIC_INTERVENTION_STATE or topic == TOPIC_EPISODE_EVENTS:
            value = message
        elif topic == TOPIC_ACTION_CHUNK:
            value = _chunk_record(path, message, stamp)
        else:
            value = decode_rgb8(path, topic, message)
        streams[topic].add(stamp, value)
    return streams


def _chunk_record(path: Path, m: Any, stamp: int) -> ActionChunkRecord:
    joints = len(m.joint_names)
    horizon, action_dim = m.horizon, m.action_dim
    if m.actions.size != horizon * action_dim or m.targets.size != horizon * joints:
        raise EpisodeFormatError(
            path,
            f"action chunk {m.chunk_id}: array sizes do not match horizon {horizon}, "
            f"action_dim {action_dim}, {joints} joints",
        )
    return ActionChunkRecord(
        stamp_ns=stamp,
        chunk_id=int(m.chunk_id),
        observation_stamp_ns=m.observation_stamp.sec * 1_000_000_000 + m.observation_stamp.nanosec,
        joint_names=tuple(m.joint_names),
        anchor=np.array(m.anchor, dtype=np.float64),
        actions=np.array(m.actions, dtype=np.float64).reshape(horizon, action_dim),
        targets=np.array(m.targets, dtype=np.float64).reshape(horizon, joints),
        group_names=tuple(m.group_names),
        group_representations=tuple(m.group_representations),
        group_joint_names=tuple(m.group_joint_names),
        delay_steps=int(m.delay_steps),
        start_index=int(m.start_index),
        inference_latency=float(m.inference_latency),
        optimality=float(m.optimality),
        cfg_scale=float(m.cfg_scale),
    )


def _check_events(
    path: Path, events: Stream, episode_id: str, outcome: int
) -> list[tuple[int, str]]:
    """Validate START/END against the metadata; return (stamp, stage) of STAGE events."""
    values: list[Any] = events.values
    kinds = [e.event for e in values]
    if EVENT_INCOMPLETE in kinds:
        raise IncompleteEpisodeError(path, "the bag was marked incomplete by its writer")
    if kinds.count(EVENT_START) != 1 or kinds.count(EVENT_END) != 1:
        raise EpisodeFormatError(
            path,
            f"expected one START and one END event, got {kinds.count(EVENT_START)} and "
            f"{kinds.count(EVENT_END)}",
        )
    for event in values:
        if event.episode_id != episode_id:
            raise EpisodeFormatError(
                path, f"event for episode {event.episode_id!r} in episode {episode_id!r}"
            )
    end = values[kinds.index(EVENT_END)]
    if end.outcome != outcome:
        raise EpisodeFormatError(
            path, f"END event outcome {end.outcome} differs from the metadata's {outcome}"
        )
    return [
        (stamp, event.stage)
        for stamp, event in zip(events.stamps, values)
        if event.event == EVENT_STAGE
    ]


def _assemble(
    path: Path,
    meta: EpisodeMeta,
    episode_id: str,
    outcome: int,
    format_version: str,
    streams: dict[str, Stream],
    outcome_recorded: int,
) -> Episode:
    # The END event carries the outcome the recorder wrote; a later correction lives in the
    # metadata only (metadata.KEY_OUTCOME_RECORDED).
    stage_stamps = _check_events(path, streams[TOPIC_EPISODE_EVENTS], episode_id,
                                 outcome_recorded)
    ticks = streams[TOPIC_HAND_COMMAND]
    if not ticks:
        raise EpisodeFormatError(path, f"no control ticks ({TOPIC_HAND_COMMAND} is empty)")
    tick_stamps = np.asarray(ticks.stamps, dtype=np.int64)
    if np.any(np.diff(tick_stamps) <= 0):
        raise EpisodeFormatError(path, f"{TOPIC_HAND_COMMAND} stamps are not strictly increasing")
    tolerance_ns = int(round(meta.control_dt * 1e9 / 2))
    num_joints = len(meta.joint_names)

    def required(topic: str) -> tuple[Stream, np.ndarray]:
        stream = streams[topic]
        index, _ = align(path, stream, tick_stamps, tolerance_ns, required=True)
        return stream, index

    joint_stream, joint_index = required(TOPIC_JOINT_STATES)
    positions = stack_rows([v[0] for v in joint_stream.values], joint_index, num_joints)
    velocities = stack_rows([v[1] for v in joint_stream.values], joint_index, num_joints)
    command = np.asarray([v[0] for v in ticks.values], dtype=np.float64).reshape(-1, num_joints)

    policy_command = None
    if streams.get(TOPIC_POLICY_COMMAND):
        stream = streams[TOPIC_POLICY_COMMAND]
        index, valid = align(path, stream, tick_stamps, tolerance_ns, required=False)
        policy_command = stack_rows([v[0] for v in stream.values], index, num_joints)
        policy_command[~valid] = np.nan  # ticks where the policy proposed nothing (demo)

    object_state = None
    if meta.object_names:
        stream, index = required(TOPIC_OBJECT_STATE)
        object_state = stack_rows([v[0] for v in stream.values], index, len(meta.object_names))

    intervention_stream, intervention_index = required(TOPIC_INTERVENTION_STATE)
    states: list[Any] = [intervention_stream.values[i] for i in intervention_index]
    source = np.fromiter((s.source for s in states), dtype=np.uint8, count=len(states))
    edge = np.fromiter((s.edge for s in states), dtype=np.uint8, count=len(states))
    reason = np.fromiter((s.reason for s in states), dtype=np.uint8, count=len(states))
    intervention_id = np.fromiter(
        (s.intervention_id for s in states), dtype=np.uint32, count=len(states)
    )

    images = {}
    for name in meta.cameras:
        stream, index = required(camera_topic(name))
        frames: list[Any] = stream.values
        shapes = {frame.shape for frame in frames}
        if len(shapes) != 1:
            raise EpisodeFormatError(path, f"camera {name!r} changes image size: {sorted(shapes)}")
        images[name] = np.stack(frames)[index]

    chunk_stream = streams.get(TOPIC_ACTION_CHUNK)
    chunks: list[Any] = list(chunk_stream.values) if chunk_stream else []
    for chunk in chunks:
        chunk.tick = int(np.searchsorted(tick_stamps, chunk.stamp_ns, side="right") - 1)
    stages = [
        (max(0, int(np.searchsorted(tick_stamps, stamp, side="right") - 1)), stage)
        for stamp, stage in stage_stamps
    ]
    return Episode(
        path=path,
        episode_id=episode_id,
        meta=meta,
        outcome=outcome,
        format_version=format_version,
        stamp_ns=tick_stamps,
        time=(tick_stamps - tick_stamps[0]) / 1e9,
        joint_positions=positions,
        joint_velocities=velocities,
        command=command,
        policy_command=policy_command,
        object_state=object_state,
        source=source,
        edge=edge,
        reason=reason,
        intervention_id=intervention_id,
        images=images,
        chunks=chunks,
        stages=stages,
    )
