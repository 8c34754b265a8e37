"""Shared helpers for the episode format tests: random episodes and bag surgery."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from ruamel.yaml import YAML

from dexpie_episode import (
    OUTCOME_SUCCESS,
    SOURCE_HUMAN,
    SOURCE_POLICY,
    EpisodeMeta,
    EpisodeWriter,
)

JOINTS = ("wrist_x", "wrist_y", "ff_j1", "ff_j2", "th_j1")
OBJECTS = ("object_x", "object_y", "door_hinge")
DT = 1.0 / 30.0
DT_NS = 33_333_333
START_NS = 1_700_000_000_000_000_000


def make_meta(**overrides: object) -> EpisodeMeta:
    fields = dict(
        task="relocate",
        stage="init",
        seed=7,
        joint_names=JOINTS,
        object_names=OBJECTS,
        control_dt=DT,
        cameras=("front",),
        note="test episode",
    )
    fields.update(overrides)
    return EpisodeMeta(**fields)  # type: ignore[arg-type]


def write_random_episode(
    root: Path,
    episode_id: str,
    num_ticks: int = 40,
    seed: int = 0,
    meta: EpisodeMeta | None = None,
    outcome: int = OUTCOME_SUCCESS,
) -> dict[str, object]:
    """Write an episode with interventions, chunks, images and stages; return what was written."""
    meta = meta or make_meta()
    rng = np.random.default_rng(seed)
    J, K = len(meta.joint_names), len(meta.object_names)
    stamps = START_NS + DT_NS * np.arange(num_ticks, dtype=np.int64)
    written = {
        "stamps": stamps,
        "q": rng.normal(size=(num_ticks, J)),
        "qd": rng.normal(size=(num_ticks, J)),
        "command": rng.normal(size=(num_ticks, J)),
        "policy_command": rng.normal(size=(num_ticks, J)),
        "object_state": rng.normal(size=(num_ticks, K)),
        "images": {
            c: rng.integers(0, 256, (num_ticks, 4, 6, 3), dtype=np.uint8) for c in meta.cameras
        },
        "source": np.where(
            (np.arange(num_ticks) // 10) % 2 == 1, SOURCE_HUMAN, SOURCE_POLICY
        ).astype(np.uint8),
        "chunks": [],
    }
    # Human ticks carry no policy proposal: the reader fills NaN there.
    written["policy_command"][written["source"] == SOURCE_HUMAN] = np.nan
    written["intervention_id"] = np.cumsum(np.diff(written["source"], prepend=0) == 1).astype(
        np.uint32
    )
    with EpisodeWriter(root, meta, episode_id=episode_id) as writer:
        for t in range(num_ticks):
            human = written["source"][t] == SOURCE_HUMAN
            writer.write_tick(
                int(stamps[t]),
                written["q"][t],
                written["qd"][t],
                written["command"][t],
                object_state=written["object_state"][t] if K else None,
                policy_command=None if human else written["policy_command"][t],
                source=int(written["source"][t]),
                edge=int(t > 0 and written["source"][t] != written["source"][t - 1]),
                intervention_id=int(written["intervention_id"][t]),
                images={c: written["images"][c][t] for c in meta.cameras},
            )
            if t % 8 == 0:
                chunk = dict(
                    stamp_ns=int(stamps[t]) + 1000,
                    chunk_id=t // 8,
                    observation_stamp_ns=int(stamps[max(t - 2, 0)]),
                    anchor=rng.normal(size=J),
                    actions=rng.normal(size=(4, J + 1)),
                    targets=rng.normal(size=(4, J)),
                    group_names=("arm", "fingers"),
                    group_representations=("relative_ee_pose", "absolute_joint"),
                    group_joint_names=tuple(f"fingers/{n}" for n in meta.joint_names),
                    delay_steps=2,
                    start_index=2,
                    inference_latency=0.012,
                    optimality=0.75,
                    cfg_scale=1.5,
                )
                writer.write_chunk(**chunk)
                written["chunks"].append(chunk)
            if t == num_ticks // 2:
                writer.write_stage(int(stamps[t]), "grasped")
        written["path"] = writer.close(outcome)
    return written


def rewrite_bag(
    source: Path,
    target: Path,
    keep: Callable[[str, int, object], bool] = lambda topic, index, message: True,
    edit: Callable[[str, object], object] | None = None,
    custom_data: dict[str, str] | None = None,
    drop_topics: tuple[str, ...] = (),
) -> None:
    """Copy a bag message by message, dropping or editing messages (for broken-bag tests)."""
    with AnyReader([source]) as reader:
        writer = Writer(target, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        out = {}
        connections = [c for c in reader.connections if c.topic not in drop_topics]
        for connection in connections:
            out[connection.id] = writer.add_connection(
                connection.topic,
                connection.msgtype,
                msgdef=connection.msgdef.data,
                rihs01=connection.digest,
            )
        counts: dict[str, int] = {}
        for connection, timestamp, raw in reader.messages(connections=connections):
            message = reader.typestore.deserialize_cdr(raw, connection.msgtype)
            index = counts.get(connection.topic, 0)
            counts[connection.topic] = index + 1
            if not keep(connection.topic, index, message):
                continue
            if edit is not None:
                message = edit(connection.topic, message)
            raw = reader.typestore.serialize_cdr(message, connection.msgtype)
            writer.write(out[connection.id], timestamp, raw)
        for key, value in (custom_data or {}).items():
            writer.set_custom_data(key, value)
        writer.close()


def custom_data_of(bag: Path) -> dict[str, str]:
    document = YAML(typ="safe").load((bag / "metadata.yaml").read_text())
    return dict(document["rosbag2_bagfile_information"]["custom_data"])
