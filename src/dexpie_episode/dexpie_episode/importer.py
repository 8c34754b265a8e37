"""Plain rosbag2 recordings -> episode bags (pure: rosbags, numpy; no ROS install).

Users record with `ros2 bag record` and label later. A recording of the standard topics

    /joint_states         sensor_msgs/JointState, any rate, any joint order, possibly split
                          across several publishers (each message names its joints)
    the command topic     sensor_msgs/JointState (e.g. /hand/command, named joints) or
                          std_msgs/Float64MultiArray (a ros2_control forward_command_controller's
                          /<controller>/commands, in the hand description's joint order)
    /intervention/state   dexpie_msgs/InterventionState (optional: who was in control)
    an object topic       sensor_msgs/JointState named like hand.object_names (optional)

plus labels (task, stage, outcome) and the hand description becomes one episode bag, resampled
to the hand's control ticks: tick k is at t0 + k / control_rate_hz from the first command to
the last; joint positions (and object state) are linearly interpolated per joint at the tick,
velocities come from the messages where every joint has them (else finite differences), the
command and the source in control are the latest ones at or before the tick. Stamps are the
messages' header stamps (the bag's receive time where a header stamp is zero or absent).

What cannot be used is a named error (BagImportError naming the bag, topic and joint): a hand
joint that /joint_states never reports, no command, a command of the wrong length, non-finite
values, a recording shorter than two ticks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader

from dexpie_common import topics
from dexpie_common.hand import HandDescription

from .schema import (EDGE_HANDBACK, EDGE_NONE, EDGE_TAKEOVER, FINAL_OUTCOMES, OUTCOME_NAMES,
                     REASON_BUTTON, REASON_NONE, SOURCE_HUMAN, SOURCE_POLICY, EpisodeMeta)
from .typestore import episode_typestore
from .writer import EpisodeWriter

JOINT_STATE = "sensor_msgs/msg/JointState"
FLOAT_ARRAY = "std_msgs/msg/Float64MultiArray"
INTERVENTION_STATE = "dexpie_msgs/msg/InterventionState"
SOURCES = {"policy": SOURCE_POLICY, "human": SOURCE_HUMAN}


class BagImportError(ValueError):
    """A recording that cannot become an episode; the message names the bag and the cause."""


@dataclass(frozen=True)
class ImportLabels:
    """What the recording does not say. source: who commanded the hand on every tick when the
    bag has no /intervention/state ("human": a demonstration, "policy": a rollout)."""
    task: str
    outcome: int
    stage: str = "init"
    seed: int = 0
    source: str = "policy"
    note: str = "imported from a plain rosbag2 recording"

    def __post_init__(self):
        if self.outcome not in FINAL_OUTCOMES:
            names = [OUTCOME_NAMES[o] for o in FINAL_OUTCOMES]
            raise ValueError(f"outcome must be one of {names}, got {self.outcome!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {list(SOURCES)}, got {self.source!r}")


@dataclass(frozen=True)
class ImportTopics:
    joint_states: str = topics.JOINT_STATES
    command: str = topics.HAND_COMMAND
    intervention: str = topics.INTERVENTION_STATE
    objects: str = ""          # empty: no object state


class _Series:
    """Per-name samples (time, value), from messages that may each carry a subset of names."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.index = {n: i for i, n in enumerate(names)}
        self.times: list[list[float]] = [[] for _ in names]
        self.values: list[list[float]] = [[] for _ in names]
        self.velocity_complete = True
        self.velocity_times: list[float] = []
        self.velocities: list[np.ndarray] = []

    def add(self, t: float, names, positions, velocities) -> None:
        for name, value in zip(names, positions):
            i = self.index.get(name)
            if i is not None:
                self.times[i].append(t)
                self.values[i].append(float(value))
        if len(velocities) == len(names) and set(self.names) <= set(names):
            lookup = dict(zip(names, velocities))
            self.velocity_times.append(t)
            self.velocities.append(np.array([float(lookup[n]) for n in self.names]))
        else:
            self.velocity_complete = False

    def missing(self) -> list[str]:
        return [n for n, ts in zip(self.names, self.times) if not ts]

    def at(self, ticks: np.ndarray) -> np.ndarray:
        """(T, N) linear interpolation per name (held flat outside the recorded span)."""
        out = np.empty((len(ticks), len(self.names)))
        for i in range(len(self.names)):
            order = np.argsort(self.times[i], kind="stable")
            out[:, i] = np.interp(ticks, np.asarray(self.times[i])[order],
                                  np.asarray(self.values[i])[order])
        return out


def _stamp_ns(msg, receive_ns: int) -> int:
    header = getattr(msg, "header", None)
    if header is not None and (header.stamp.sec or header.stamp.nanosec):
        return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
    return int(receive_ns)


STAMP_TOLERANCE = 1e-6   # s: a sample stamped this close after a tick counts as at the tick
                         # (float seconds of a ns stamp, the tick grid's own rounding)


def _latest_index(times: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    """Index of the latest sample at or before each tick (-1: none yet)."""
    return np.searchsorted(times, ticks + STAMP_TOLERANCE, side="right") - 1


def import_plain_bag(bag: Path | str, out_dir: Path | str, hand: HandDescription,
                     labels: ImportLabels, bag_topics: ImportTopics = ImportTopics()) -> Path:
    """Write one episode bag under `out_dir` from the plain recording `bag`; returns its path."""
    bag, out_dir = Path(bag), Path(out_dir)
    where = f"{bag}"
    joints = _Series(hand.joint_names)
    objects = _Series(hand.object_names) if bag_topics.objects else None
    if hand.object_names and objects is None:
        raise BagImportError(f"{where}: the hand description names object state "
                             f"{list(hand.object_names)}: give its topic (--object-topic)")
    command_times, commands = [], []
    source_times, sources = [], []
    try:
        reader_context = AnyReader([bag], default_typestore=episode_typestore())
    except Exception as error:  # rosbags raises several unrelated classes for unreadable bags
        raise BagImportError(f"{where}: not a readable rosbag2 recording: {error}") from None
    origin_ns = None   # times are seconds after the first message: full float precision
    with reader_context as reader:
        by_topic = {c.topic: c for c in reader.connections}
        for topic, required in ((bag_topics.joint_states, True), (bag_topics.command, True),
                                (bag_topics.objects, bool(bag_topics.objects))):
            if required and topic not in by_topic:
                raise BagImportError(f"{where}: no topic {topic} (topics: {sorted(by_topic)})")
        wanted = [c for c in reader.connections if c.topic in
                  {bag_topics.joint_states, bag_topics.command, bag_topics.intervention,
                   bag_topics.objects}]
        for connection, receive_ns, raw in reader.messages(connections=wanted):
            msg = reader.deserialize(raw, connection.msgtype)
            stamp_ns = _stamp_ns(msg, receive_ns)
            origin_ns = stamp_ns if origin_ns is None else origin_ns
            t, topic = (stamp_ns - origin_ns) * 1e-9, connection.topic
            if topic == bag_topics.joint_states:
                _expect(connection, JOINT_STATE, where)
                joints.add(t, msg.name, msg.position, msg.velocity)
            elif topic == bag_topics.objects:
                _expect(connection, JOINT_STATE, where)
                objects.add(t, msg.name, msg.position, ())
            elif topic == bag_topics.command:
                commands.append(_command_vector(msg, connection, hand, where, len(commands)))
                command_times.append(t)
            elif topic == bag_topics.intervention:
                _expect(connection, INTERVENTION_STATE, where)
                source_times.append(t)
                sources.append(int(msg.source))
    missing = joints.missing()
    if missing:
        raise BagImportError(f"{where}: {bag_topics.joint_states} never reports the hand's "
                             f"joints {missing}")
    if objects is not None and objects.missing():
        raise BagImportError(f"{where}: {bag_topics.objects} never reports the object state "
                             f"entries {objects.missing()}")
    if not commands:
        raise BagImportError(f"{where}: no message on the command topic {bag_topics.command}")
    order = np.argsort(command_times, kind="stable")
    command_times = np.asarray(command_times)[order]
    commands = np.asarray(commands)[order]
    span = command_times[-1] - command_times[0]
    ticks = command_times[0] + np.arange(int(np.floor(span / hand.control_dt + 1e-6)) + 1) \
        * hand.control_dt
    if len(ticks) < 2:
        raise BagImportError(f"{where}: the commands span {span:.3f} s, "
                             f"less than two control ticks at {hand.control_rate_hz} Hz")
    positions = joints.at(ticks)
    command = commands[_latest_index(command_times, ticks)]
    if joints.velocity_complete and joints.velocity_times:
        vt = np.asarray(joints.velocity_times)
        velocities = np.stack(joints.velocities)[np.clip(_latest_index(vt, ticks), 0, None)]
    else:
        velocities = np.gradient(positions, hand.control_dt, axis=0)
    object_state = objects.at(ticks) if objects is not None else None
    if source_times:
        source_order = np.argsort(source_times, kind="stable")
        st, sv = np.asarray(source_times)[source_order], np.asarray(sources)[source_order]
        latest = _latest_index(st, ticks)
        source = np.where(latest >= 0, sv[np.clip(latest, 0, None)], SOURCES[labels.source])
    else:
        source = np.full(len(ticks), SOURCES[labels.source])
    for name, values in (("joint positions", positions), ("commands", command),
                         ("velocities", velocities), ("object state", object_state)):
        if values is not None and not np.all(np.isfinite(values)):
            tick = int(np.argwhere(~np.isfinite(values))[0][0])
            raise BagImportError(f"{where}: non-finite {name} at control tick {tick} "
                                 f"({ticks[tick]:.3f} s after the recording's first message)")
    meta = EpisodeMeta(task=labels.task, stage=labels.stage, seed=labels.seed,
                       joint_names=hand.joint_names, control_dt=hand.control_dt,
                       object_names=hand.object_names if objects is not None else (),
                       note=f"{labels.note}: {bag.name}", hand=hand)
    intervention_id = 0
    with EpisodeWriter(out_dir, meta) as writer:
        for k, t in enumerate(ticks):
            edge = EDGE_NONE
            if k and source[k] != source[k - 1]:
                edge = EDGE_TAKEOVER if source[k] == SOURCE_HUMAN else EDGE_HANDBACK
            if source[k] == SOURCE_HUMAN and (k == 0 or source[k - 1] != SOURCE_HUMAN):
                intervention_id += 1
            writer.write_tick(origin_ns + int(round(t * 1e9)), positions[k], velocities[k], command[k],
                              object_state=None if object_state is None else object_state[k],
                              policy_command=command[k] if source[k] == SOURCE_POLICY else None,
                              source=int(source[k]), edge=edge,
                              reason=REASON_BUTTON if edge != EDGE_NONE else REASON_NONE,
                              intervention_id=intervention_id if source[k] == SOURCE_HUMAN else 0)
        return writer.close(labels.outcome)


def _expect(connection, msgtype: str, where: str) -> None:
    if connection.msgtype != msgtype:
        raise BagImportError(f"{where}: topic {connection.topic} carries {connection.msgtype}, "
                             f"expected {msgtype}")


def _command_vector(msg, connection, hand: HandDescription, where: str, index: int) -> np.ndarray:
    """One command in the hand's joint order: named (JointState) or positional (an array in
    the hand description's order, as a forward_command_controller takes it)."""
    if connection.msgtype == JOINT_STATE:
        lookup = dict(zip(msg.name, msg.position))
        missing = [n for n in hand.joint_names if n not in lookup]
        if missing:
            raise BagImportError(f"{where}: command {index} on {connection.topic} lacks joints "
                                 f"{missing}")
        return np.array([float(lookup[n]) for n in hand.joint_names])
    if connection.msgtype == FLOAT_ARRAY:
        data = np.asarray(msg.data, dtype=float)
        if data.shape != (len(hand.joint_names),):
            raise BagImportError(f"{where}: command {index} on {connection.topic} has "
                                 f"{data.size} values, the hand {len(hand.joint_names)} joints")
        return data
    raise BagImportError(f"{where}: command topic {connection.topic} carries "
                         f"{connection.msgtype}, expected {JOINT_STATE} or {FLOAT_ARRAY}")
