"""A LeRobotDataset (v3.0) of a hand + its hand description -> episode bags for `train`.

    dexpie-bags import-lerobot exports/lab --out runs/lab_demos --hand my_hand.yaml \\
        [--outcome success] [--source human] [--stage init]

Reads the parquet files with pyarrow (no lerobot). One bag per LeRobot episode, one control
tick per frame: `observation.state` -> joint positions, `action` -> the commanded targets
(both must be absolute joint positions in the hand's joint order: the features' `names`, when
given, must be the hand's joints), `observation.environment_state` -> object state (when the
hand has object_names). The intervention flag, outcome and stage come from the columns
`dexpie-episodes export-lerobot` writes (`intervention`, `outcome`, `stage`) when present,
else from `--source`, `next.success` / `--outcome` and `--stage`. The dataset's fps must be
the hand's control rate (no resampling). Cameras are not imported. Joint velocities are not
in a LeRobotDataset: they are written as zeros.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dexpie_common.hand import HandDescription

from .schema import (EDGE_HANDBACK, EDGE_NONE, EDGE_TAKEOVER, FINAL_OUTCOMES,
                     OUTCOME_FAILURE, OUTCOME_SUCCESS, SOURCE_HUMAN, SOURCE_POLICY, EpisodeMeta)
from .writer import EpisodeWriter


class LeRobotImportError(ValueError):
    """A dataset that cannot become episodes of this hand; names the problem."""


def _names_match(info: dict, key: str, names: tuple[str, ...]) -> None:
    feature = info["features"].get(key)
    if feature is None:
        raise LeRobotImportError(f"the dataset has no {key!r} feature")
    if list(feature["shape"]) != [len(names)]:
        raise LeRobotImportError(f"{key} has shape {feature['shape']}, the hand has "
                                 f"{len(names)} entries {list(names)}")
    given = feature.get("names")
    if isinstance(given, dict):  # older datasets: {"motors": [...]}
        given = next(iter(given.values()), None)
    if given is not None and list(given) != list(names):
        raise LeRobotImportError(f"{key} names {list(given)} are not the hand's "
                                 f"{list(names)} (reorder or rename in the hand description)")


def import_lerobot(root: Path | str, out: Path | str, hand: HandDescription, *,
                   outcome: int | None = None, source: str = "policy", stage: str = "init",
                   seed: int = 0) -> list[Path]:
    """Write one episode bag per episode of the LeRobotDataset in `root`; returns the bags."""
    import pyarrow.parquet as pq

    root = Path(root)
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise LeRobotImportError(f"{root} is not a LeRobotDataset (no meta/info.json)")
    info = json.loads(info_path.read_text())
    if not str(info.get("codebase_version", "")).startswith("v3"):
        raise LeRobotImportError(f"{root}: codebase_version {info.get('codebase_version')!r}; "
                                 "this reads v3.x (convert older datasets with lerobot first)")
    fps = float(info["fps"])
    if abs(fps - hand.control_rate_hz) > 1e-6 * fps:
        raise LeRobotImportError(f"{root}: {fps} fps, the hand's control_rate_hz is "
                                 f"{hand.control_rate_hz} (no resampling)")
    _names_match(info, "observation.state", hand.joint_names)
    _names_match(info, "action", hand.joint_names)
    if hand.object_names:
        _names_match(info, "observation.environment_state", hand.object_names)
    tasks_table = pq.read_table(root / "meta" / "tasks.parquet")
    task_column = next(c for c in tasks_table.column_names if c != "task_index")
    tasks = dict(zip(tasks_table.column("task_index").to_pylist(),
                     tasks_table.column(task_column).to_pylist()))
    files = sorted((root / "data").glob("*/*.parquet"))
    if not files:
        raise LeRobotImportError(f"{root}: no data/*/*.parquet files")
    wanted = ["episode_index", "frame_index", "task_index", "observation.state", "action"]
    optional = ["observation.environment_state", "intervention", "outcome", "stage",
                "next.success"]
    columns: dict[str, list] = {}
    for path in files:
        table = pq.read_table(path)
        for name in wanted + [o for o in optional if o in table.column_names]:
            columns.setdefault(name, []).extend(table.column(name).to_pylist())
    episode_index = np.asarray(columns["episode_index"])
    written = []
    for index in np.unique(episode_index):
        rows = np.flatnonzero(episode_index == index)
        rows = rows[np.argsort(np.asarray(columns["frame_index"])[rows], kind="stable")]
        take = lambda name: [columns[name][r] for r in rows]  # noqa: E731
        q = np.asarray(take("observation.state"), dtype=np.float64)
        command = np.asarray(take("action"), dtype=np.float64)
        objects = (np.asarray(take("observation.environment_state"), dtype=np.float64)
                   if hand.object_names else None)
        if "intervention" in columns:
            human = np.asarray(take("intervention"), dtype=bool)
        else:
            human = np.full(len(rows), source == "human")
        if "outcome" in columns and int(columns["outcome"][rows[0]]) in FINAL_OUTCOMES:
            label = int(columns["outcome"][rows[0]])
        elif outcome is not None:
            label = outcome
        elif "next.success" in columns:
            label = OUTCOME_SUCCESS if any(take("next.success")) else OUTCOME_FAILURE
        else:
            raise LeRobotImportError(f"episode {int(index)}: no outcome column and no "
                                     "next.success; give --outcome")
        stages = take("stage") if "stage" in columns else [stage] * len(rows)
        meta = EpisodeMeta(task=tasks[int(columns["task_index"][rows[0]])], stage=stages[0],
                           seed=seed, joint_names=hand.joint_names,
                           object_names=hand.object_names, control_dt=hand.control_dt,
                           hand=hand, note=f"imported from LeRobotDataset {root} "
                                           f"episode {int(index)}")
        dt_ns = int(round(hand.control_dt * 1e9))
        with EpisodeWriter(Path(out), meta, episode_id=f"lerobot_{int(index):06d}") as writer:
            intervention_id = 0
            for t in range(len(rows)):
                stamp = 1_000_000_000 + t * dt_ns
                edge = EDGE_NONE
                if human[t] and (t == 0 or not human[t - 1]):
                    edge, intervention_id = EDGE_TAKEOVER, intervention_id + 1
                elif t > 0 and human[t - 1] and not human[t]:
                    edge = EDGE_HANDBACK
                writer.write_tick(stamp, q[t], np.zeros_like(q[t]), command[t],
                                  object_state=None if objects is None else objects[t],
                                  source=SOURCE_HUMAN if human[t] else SOURCE_POLICY,
                                  edge=edge, intervention_id=intervention_id)
                if t > 0 and stages[t] != stages[t - 1]:
                    writer.write_stage(stamp, stages[t])
            written.append(writer.close(label))
    return written
