"""Labels stored WITH the dataset they label (safetensors + JSON; never pickle).

    <dataset_dir>/labels/<name>.safetensors   "<episode_id>/<array>" -> (T,) per episode,
                                              arrays: values, advantages, optimality,
                                              binary_indicator (float64), human_window (uint8)
    <dataset_dir>/labels/<name>.json          {"format_version", "kind", "episode_ids",
                                              "num_steps", "horizon", "returns" (L, C_fail,
                                              gamma_f), "indicator" (q_0.6, q_0.8, beta, ...),
                                              "critic_checkpoints", "extra"}

Loading validates the two files against each other and, given the episodes of the bags,
that the labels cover exactly those episodes with the right lengths: a missing or extra
episode id is named in the error (labels computed for another set of bags are refused
rather than silently reused).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from dexpie_learning.critic.returns import ReturnConfig
from dexpie_learning.labels.indicator import IndicatorParams
from dexpie_learning.labels.labelling import ARRAY_NAMES, DatasetLabels, EpisodeLabels

FORMAT_VERSION = 1
KIND = "dexpie_step_labels"
LABELS_DIR = "labels"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_HEADER_KEYS = {"format_version", "kind", "episode_ids", "num_steps", "horizon", "returns",
                "indicator", "critic_checkpoints", "extra"}


class LabelStoreError(ValueError):
    """Label files that cannot be loaded or do not match the dataset; names the problem."""


def label_paths(dataset_dir: str | Path, name: str) -> tuple[Path, Path]:
    """-> (<dataset_dir>/labels/<name>.safetensors, <dataset_dir>/labels/<name>.json)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise LabelStoreError(f"label set name {name!r} must be letters, digits, '_', '-', '.'")
    folder = Path(dataset_dir) / LABELS_DIR
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def save_labels(dataset_dir: str | Path, name: str, labels: DatasetLabels) -> Path:
    """Write both files (labels/ created if needed); returns the .safetensors path."""
    tensors_path, header_path = label_paths(dataset_dir, name)
    tensors_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for episode_id, episode in labels.episodes.items():
        for array in ARRAY_NAMES:
            value = getattr(episode, array)
            value = value.astype(np.uint8) if array == "human_window" else value.astype(
                np.float64)
            tensors[f"{episode_id}/{array}"] = np.ascontiguousarray(value)
    header = {"format_version": FORMAT_VERSION, "kind": KIND,
              "episode_ids": labels.episode_ids,
              "num_steps": {i: labels.episodes[i].num_steps for i in labels.episode_ids},
              "horizon": labels.horizon, "returns": labels.returns.to_dict(),
              "indicator": labels.indicator.to_dict(),
              "critic_checkpoints": list(labels.critic_checkpoints), "extra": labels.extra}
    tmp = tensors_path.with_name(tensors_path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"kind": KIND, "format_version": str(FORMAT_VERSION)})
    tmp.replace(tensors_path)
    # The JSON goes last: a crash in between leaves no header, so no half-valid label set.
    tmp = header_path.with_name(header_path.name + ".tmp")
    tmp.write_text(json.dumps(header, indent=2, allow_nan=False) + "\n")
    tmp.replace(header_path)
    return tensors_path


def load_labels(dataset_dir: str | Path, name: str, episode_ids: Iterable[str] | None = None,
                episode_lengths: Mapping[str, int] | None = None) -> DatasetLabels:
    """Read and validate a label set. episode_ids: the ids of the dataset's bags (the labels
    must cover exactly these); episode_lengths: id -> T, checked against every array."""
    tensors_path, header_path = label_paths(dataset_dir, name)
    header = _read_header(header_path)
    ids = header["episode_ids"]
    if episode_lengths is not None:
        episode_ids = list(episode_lengths) if episode_ids is None else episode_ids
    if episode_ids is not None:
        expected = set(episode_ids)
        missing, extra = sorted(expected - set(ids)), sorted(set(ids) - expected)
        if missing or extra:
            raise LabelStoreError(f"{header_path.name}: labels do not match the dataset's "
                                  f"episodes: missing {missing}, extra {extra}")
    tensors = _read_tensors(tensors_path)
    wanted = {f"{i}/{a}" for i in ids for a in ARRAY_NAMES}
    missing, extra = sorted(wanted - set(tensors)), sorted(set(tensors) - wanted)
    if missing or extra:
        raise LabelStoreError(f"{tensors_path.name}: arrays do not match {header_path.name}: "
                              f"missing {missing[:5]}, unexpected {extra[:5]}")
    episodes = {}
    for i in ids:
        steps = header["num_steps"][i]
        if episode_lengths is not None and episode_lengths[i] != steps:
            raise LabelStoreError(f"episode {i!r}: labels have {steps} steps, the bag has "
                                  f"{episode_lengths[i]}")
        arrays = {a: tensors[f"{i}/{a}"] for a in ARRAY_NAMES}
        for array, value in arrays.items():
            if value.shape != (steps,):
                raise LabelStoreError(f"{tensors_path.name}: {i}/{array} has shape "
                                      f"{value.shape}, {header_path.name} says ({steps},)")
        arrays["human_window"] = arrays["human_window"].astype(bool)
        try:
            episodes[i] = EpisodeLabels(**arrays)
        except ValueError as error:
            raise LabelStoreError(f"{tensors_path.name}: episode {i!r}: {error}") from None
    try:
        returns = ReturnConfig(**header["returns"])
        indicator = header["indicator"]
        params = IndicatorParams(q_low=indicator["q_low"], q_high=indicator["q_high"],
                                 beta=indicator["beta"], beta_guarded=indicator["beta_guarded"])
    except (TypeError, KeyError, ValueError) as error:
        raise LabelStoreError(f"{header_path.name}: {error!r}") from None
    return DatasetLabels(episodes=episodes, horizon=header["horizon"], returns=returns,
                         indicator=params, critic_checkpoints=tuple(header["critic_checkpoints"]),
                         extra=header["extra"])


def _read_header(path: Path) -> dict:
    if not path.is_file():
        raise LabelStoreError(f"label header {str(path)!r} does not exist")
    try:
        header = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LabelStoreError(f"{path.name}: not valid JSON ({error})") from None
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        version = header.get("format_version") if isinstance(header, dict) else None
        raise LabelStoreError(f"{path.name}: format_version {version!r} is not supported "
                              f"(this code reads version {FORMAT_VERSION})")
    if header.get("kind") != KIND:
        raise LabelStoreError(f"{path.name}: kind {header.get('kind')!r}, expected {KIND!r}")
    if set(header) != _HEADER_KEYS:
        raise LabelStoreError(f"{path.name}: keys missing {sorted(_HEADER_KEYS - set(header))}, "
                              f"unknown {sorted(set(header) - _HEADER_KEYS)}")
    ids = header["episode_ids"]
    if (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)
            or len(set(ids)) != len(ids)):
        raise LabelStoreError(f"{path.name}: episode_ids must be a list of unique strings")
    steps = header["num_steps"]
    if not isinstance(steps, dict) or set(steps) != set(ids) or not all(
            isinstance(t, int) and t >= 1 for t in steps.values()):
        raise LabelStoreError(f"{path.name}: num_steps must give a positive length for "
                              f"exactly the episode_ids")
    if not isinstance(header["horizon"], int) or header["horizon"] < 1:
        raise LabelStoreError(f"{path.name}: horizon must be a positive integer, got "
                              f"{header['horizon']!r}")
    if not isinstance(header["critic_checkpoints"], list) or not isinstance(header["extra"],
                                                                            dict):
        raise LabelStoreError(f"{path.name}: critic_checkpoints must be a list, extra a mapping")
    return header


def _read_tensors(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise LabelStoreError(f"label arrays {str(path)!r} do not exist")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise LabelStoreError(f"{path.name}: corrupt or not a safetensors file ({error})") from None
