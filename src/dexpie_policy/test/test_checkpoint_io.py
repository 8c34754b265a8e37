"""CheckpointFolder: the three files every checkpoint folder (policy, critic) shares."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from safetensors import safe_open

from dexpie_common.stored_config import StoredConfig
from dexpie_policy.checkpoint_io import (CONFIG_FILE, NORMALIZATION_FILE, WEIGHTS_FILE,
                                         CheckpointFolder)
from dexpie_policy.normalization import NormalizationStats


class ThingError(ValueError):
    pass


class ThingConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ThingConfig(StoredConfig, error=ThingConfigError):
    width: int = 3


FOLDER = CheckpointFolder(kind="thing", type_key="thing_type", type_name="tiny_thing",
                          error=ThingError, format_version=2, extra_keys=("notes",))


def stats() -> NormalizationStats:
    return NormalizationStats.from_dict({"observation.state": {
        "mean": [0.0] * 3, "std": [1.0] * 3, "min": [-1.0] * 3, "max": [1.0] * 3}})


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 2)
    directory = FOLDER.write(tmp_path / "thing", module, ThingConfig().to_dict(), stats(),
                             notes={"why": "test"})
    return directory, module


def test_write_then_load_gives_the_same_config_stats_and_weights(saved):
    directory, module = saved
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [CONFIG_FILE, WEIGHTS_FILE, NORMALIZATION_FILE])
    header = json.loads((directory / CONFIG_FILE).read_text())
    assert list(header) == ["format_version", "thing_type", "config", "notes"]
    with safe_open(str(directory / WEIGHTS_FILE), "pt") as weights:
        assert weights.metadata() == {"format": "pt", "thing_type": "tiny_thing",
                                      "format_version": "2"}
    loaded_header = FOLDER.read_header(FOLDER.existing_directory(directory))
    assert FOLDER.read_config(loaded_header, ThingConfig) == ThingConfig()
    assert loaded_header["notes"] == {"why": "test"}
    np.testing.assert_array_equal(FOLDER.read_stats(directory).to_dict()["observation.state"]["std"],
                                  [1.0] * 3)
    fresh = torch.nn.Linear(3, 2)
    FOLDER.load_weights(fresh, directory, "thing")
    assert torch.equal(fresh.weight, module.weight) and torch.equal(fresh.bias, module.bias)


def _edit_header(directory, edit):
    header = json.loads((directory / CONFIG_FILE).read_text())
    edit(header)
    (directory / CONFIG_FILE).write_text(json.dumps(header))


@pytest.mark.parametrize("edit, message", [
    (lambda h: h.update(format_version=1), r"config.json: format_version 1 is not supported "
                                           r"\(this code reads version 2\)"),
    (lambda h: h.update(thing_type="other"), "config.json: thing_type 'other', expected 'tiny_thing'"),
    (lambda h: h.update(comment="x"), r"config.json: unknown top-level keys \['comment'\]"),
    (lambda h: h["config"].update(depth=2), r"config.json: unknown config keys: \['depth'\]"),
    (lambda h: h.update(config=[]), "config.json: config must be a mapping"),
])
def test_a_bad_header_is_named_in_the_folders_error(saved, edit, message):
    directory, _ = saved
    _edit_header(directory, edit)
    with pytest.raises(ThingError, match=message):
        FOLDER.read_config(FOLDER.read_header(directory), ThingConfig)


def test_missing_folder_files_and_tensors_are_named(saved, tmp_path):
    directory, _ = saved
    with pytest.raises(ThingError, match="thing directory .* does not exist"):
        FOLDER.existing_directory(tmp_path / "nowhere")
    with pytest.raises(ThingError, match=r"model.safetensors: tensors do not match the thing "
                                         r"built from config.json: missing \[\], unexpected"):
        FOLDER.load_weights(torch.nn.Linear(3, 2, bias=False), directory, "thing")
    (directory / NORMALIZATION_FILE).write_text('{"observation.state": {"mean": [0.0]}}')
    with pytest.raises(ThingError, match="normalization.json: statistics of 'observation.state'"):
        FOLDER.read_stats(directory)
    (directory / NORMALIZATION_FILE).unlink()
    with pytest.raises(ThingError, match="normalization.json: missing from thing directory"):
        FOLDER.read_stats(directory)


def test_write_refuses_a_top_level_key_the_folder_does_not_declare(tmp_path):
    with pytest.raises(TypeError, match=r"has no keys \['extra'\]"):
        FOLDER.write(tmp_path / "t", torch.nn.Linear(3, 2), ThingConfig().to_dict(), stats(),
                     extra=1)
    assert not (tmp_path / "t").exists()
