"""Episode metadata as rosbag2 `custom_data` (string key -> string value in metadata.yaml).

rosbag2 only stores strings there. Scalars are written as plain text so `ros2 bag info`
and a text editor show them readably; name lists are JSON arrays. Every key is prefixed with
"dexpie." so the metadata cannot collide with keys other tools add.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from dexpie_common.hand import HandDescription, HandDescriptionError

from .schema import FORMAT_VERSION, OUTCOME_NAMES, EpisodeFormatError, EpisodeMeta

KEY_PREFIX = "dexpie."
KEY_FORMAT_VERSION = KEY_PREFIX + "format_version"
KEY_EPISODE_ID = KEY_PREFIX + "episode_id"
KEY_TASK = KEY_PREFIX + "task"
KEY_STAGE = KEY_PREFIX + "stage"
KEY_SEED = KEY_PREFIX + "seed"
KEY_OUTCOME = KEY_PREFIX + "outcome"
KEY_OUTCOME_NAME = KEY_PREFIX + "outcome_name"  # for humans reading metadata.yaml
KEY_JOINT_NAMES = KEY_PREFIX + "joint_names"
KEY_OBJECT_NAMES = KEY_PREFIX + "object_names"
KEY_CONTROL_DT = KEY_PREFIX + "control_dt"
KEY_CAMERAS = KEY_PREFIX + "cameras"
KEY_NOTE = KEY_PREFIX + "note"
KEY_NUM_TICKS = KEY_PREFIX + "num_ticks"
# The hand description as JSON (dexpie_common.hand); optional: bags recorded before it
# existed, or by other tools, get one at training time (`train --hand FILE`).
KEY_HAND = KEY_PREFIX + "hand"
# An outcome set after recording (`dexpie-bags set-outcome`): KEY_OUTCOME holds the label in
# force, KEY_OUTCOME_RECORDED the one the recorder wrote (and its END event carries), and
# KEY_OUTCOME_CORRECTION says when and why it changed. The recorded data is never rewritten.
KEY_OUTCOME_RECORDED = KEY_PREFIX + "outcome_recorded"
KEY_OUTCOME_CORRECTION = KEY_PREFIX + "outcome_correction"

try:  # libyaml parses metadata.yaml ~20x faster than pure-Python ruamel (rosbags' own parser)
    from yaml import CSafeLoader as _FastYamlLoader
    from yaml import load as _fast_yaml_load
except ImportError:  # pragma: no cover - PyYAML without libyaml, or no PyYAML
    _FastYamlLoader = None


@dataclass(frozen=True)
class BagInfo:
    """What the reader needs from a bag's metadata.yaml."""

    custom_data: dict[str, str] | None
    storage_identifier: str
    relative_file_paths: tuple[str, ...]
    compression_mode: str


def read_bag_info(path: Path) -> BagInfo:
    """Parse `<bag>/metadata.yaml` (rosbags parses custom_data but does not expose it)."""
    text = (path / "metadata.yaml").read_text(encoding="utf-8")
    try:
        if _FastYamlLoader is not None:
            document = _fast_yaml_load(text, Loader=_FastYamlLoader)
        else:
            document = YAML(typ="safe").load(text)
    except Exception as exc:  # PyYAML and ruamel raise unrelated error classes
        raise EpisodeFormatError(path, f"metadata.yaml is not valid YAML: {exc}") from None
    info = document.get("rosbag2_bagfile_information") if isinstance(document, dict) else None
    if not isinstance(info, dict):
        raise EpisodeFormatError(path, "metadata.yaml has no rosbag2_bagfile_information")
    custom = info.get("custom_data")
    return BagInfo(
        custom_data=(
            {str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict) else None
        ),
        storage_identifier=str(info.get("storage_identifier", "")),
        relative_file_paths=tuple(str(p) for p in info.get("relative_file_paths") or ()),
        compression_mode=str(info.get("compression_mode") or ""),
    )


REQUIRED_KEYS = (
    KEY_FORMAT_VERSION,
    KEY_EPISODE_ID,
    KEY_TASK,
    KEY_STAGE,
    KEY_SEED,
    KEY_OUTCOME,
    KEY_JOINT_NAMES,
    KEY_OBJECT_NAMES,
    KEY_CONTROL_DT,
    KEY_CAMERAS,
)


def encode_custom_data(
    meta: EpisodeMeta, episode_id: str, outcome: int, num_ticks: int
) -> dict[str, str]:
    return {
        KEY_FORMAT_VERSION: FORMAT_VERSION,
        KEY_EPISODE_ID: episode_id,
        KEY_TASK: meta.task,
        KEY_STAGE: meta.stage,
        KEY_SEED: str(meta.seed),
        KEY_OUTCOME: str(int(outcome)),
        KEY_OUTCOME_NAME: OUTCOME_NAMES.get(int(outcome), "unknown"),
        KEY_JOINT_NAMES: json.dumps(list(meta.joint_names)),
        KEY_OBJECT_NAMES: json.dumps(list(meta.object_names)),
        # repr() of a float round-trips exactly.
        KEY_CONTROL_DT: repr(meta.control_dt),
        KEY_CAMERAS: json.dumps(list(meta.cameras)),
        KEY_NOTE: meta.note,
        KEY_NUM_TICKS: str(int(num_ticks)),
        **({} if meta.hand is None else {KEY_HAND: meta.hand.to_json()}),
    }


def _name_list(path: Path, custom_data: Mapping[str, str], key: str) -> tuple[str, ...]:
    try:
        names = json.loads(custom_data[key])
    except json.JSONDecodeError as exc:
        raise EpisodeFormatError(path, f"metadata {key} is not a JSON list: {exc}") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise EpisodeFormatError(path, f"metadata {key} must be a list of strings")
    return tuple(names)


def decode_custom_data(
    path: Path, custom_data: Mapping[str, str] | None
) -> tuple[EpisodeMeta, str, int, str]:
    """Return (meta, episode_id, outcome, format_version) or raise EpisodeFormatError."""
    if not custom_data:
        raise EpisodeFormatError(path, "missing episode metadata (no custom_data in metadata.yaml)")
    missing = [key for key in REQUIRED_KEYS if key not in custom_data]
    if missing:
        raise EpisodeFormatError(path, f"missing episode metadata keys {missing}")
    format_version = custom_data[KEY_FORMAT_VERSION]
    if format_version != FORMAT_VERSION:
        raise EpisodeFormatError(
            path, f"unsupported format version {format_version!r} (reader: {FORMAT_VERSION!r})"
        )
    try:
        seed = int(custom_data[KEY_SEED])
        outcome = int(custom_data[KEY_OUTCOME])
        control_dt = float(custom_data[KEY_CONTROL_DT])
    except ValueError as exc:
        raise EpisodeFormatError(path, f"malformed episode metadata: {exc}") from None
    hand = None
    if KEY_HAND in custom_data:
        try:
            hand = HandDescription.from_json(custom_data[KEY_HAND])
        except HandDescriptionError as exc:
            raise EpisodeFormatError(path, f"metadata {KEY_HAND}: {exc}") from None
    try:
        meta = EpisodeMeta(
            task=custom_data[KEY_TASK],
            stage=custom_data[KEY_STAGE],
            seed=seed,
            joint_names=_name_list(path, custom_data, KEY_JOINT_NAMES),
            object_names=_name_list(path, custom_data, KEY_OBJECT_NAMES),
            cameras=_name_list(path, custom_data, KEY_CAMERAS),
            control_dt=control_dt,
            note=custom_data.get(KEY_NOTE, ""),
            hand=hand,
        )
    except ValueError as exc:
        raise EpisodeFormatError(path, f"invalid episode metadata: {exc}") from None
    return meta, custom_data[KEY_EPISODE_ID], outcome, format_version


def recorded_outcome(path: Path, custom_data: Mapping[str, str], outcome: int) -> int:
    """The outcome the recorder wrote (its END event's): `outcome` unless it was corrected."""
    if KEY_OUTCOME_RECORDED not in custom_data:
        return outcome
    try:
        return int(custom_data[KEY_OUTCOME_RECORDED])
    except ValueError:
        raise EpisodeFormatError(path, f"metadata {KEY_OUTCOME_RECORDED} is not an integer: "
                                 f"{custom_data[KEY_OUTCOME_RECORDED]!r}") from None


def set_outcome_metadata(path: Path, outcome: int, correction: str) -> None:
    """Rewrite `<bag>/metadata.yaml` with `outcome` in force (atomically: a crash leaves the
    old or the new file, never half of one). The caller validates the bag before and after."""
    path = Path(path)
    metadata = path / "metadata.yaml"
    yaml = YAML()  # round trip: keeps the rest of rosbag2's file as it was
    document = yaml.load(metadata.read_text(encoding="utf-8"))
    custom = document["rosbag2_bagfile_information"]["custom_data"]
    custom.setdefault(KEY_OUTCOME_RECORDED, custom[KEY_OUTCOME])
    custom[KEY_OUTCOME] = str(int(outcome))
    custom[KEY_OUTCOME_NAME] = OUTCOME_NAMES.get(int(outcome), "unknown")
    custom[KEY_OUTCOME_CORRECTION] = correction
    temporary = metadata.with_name("metadata.yaml.tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        yaml.dump(document, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, metadata)
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
