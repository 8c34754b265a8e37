"""Checkpoint round trip and every validation error (each names the file / key / tensor)."""
import json

import numpy as np
import pytest
import torch
from policy_helpers import make_episodes, make_spec
from safetensors.torch import load_file, save_file

from dexpie_policy.checkpoint import (ACTION_SPEC_FILE, CONFIG_FILE, NORMALIZATION_FILE,
                                      WEIGHTS_FILE, CheckpointError, load_policy, save_policy)
from dexpie_policy.chunk_dataset import ChunkDataset
from dexpie_policy.flow import FlowMatchingPolicy
from dexpie_policy.runner import PolicyRunner

SMALL = dict(hidden_size=32, num_layers=2, time_embedding_dim=16, optimality_embedding_dim=16,
             num_inference_steps=4)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    spec = make_spec()
    dataset = ChunkDataset(make_episodes(count=2, steps=12), spec, horizon=8)
    torch.manual_seed(0)
    model = FlowMatchingPolicy(dataset.policy_config(**SMALL))
    directory = save_policy(tmp_path_factory.mktemp("policy") / "p", model, dataset.stats, spec)
    return directory, model, dataset


def _copy(saved, tmp_path):
    directory = tmp_path / "copy"
    directory.mkdir(parents=True)
    for path in saved[0].iterdir():
        (directory / path.name).write_bytes(path.read_bytes())
    return directory


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_round_trip_gives_identical_chunks(saved):
    directory, model, dataset = saved
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [CONFIG_FILE, WEIGHTS_FILE, NORMALIZATION_FILE, ACTION_SPEC_FILE])
    loaded, stats, spec = load_policy(directory)
    assert loaded.config == model.config and spec == dataset.spec
    before = PolicyRunner(model, dataset.stats, dataset.spec)
    after = PolicyRunner.from_pretrained(directory)
    q, obj = dataset.state[3], dataset.object_state[3]
    prefix = dataset.state[4:6]
    out_before = before.predict_chunk(q, obj, prefix_targets=prefix,
                                      generator=torch.Generator().manual_seed(1))
    out_after = after.predict_chunk(q, obj, prefix_targets=prefix,
                                    generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(out_before, out_after)


def test_wrong_format_version(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    _edit_json(directory / CONFIG_FILE, lambda d: d.update(format_version=99))
    with pytest.raises(CheckpointError, match="config.json: format_version 99"):
        load_policy(directory)


def test_unknown_and_missing_config_keys(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    _edit_json(directory / CONFIG_FILE, lambda d: d["config"].update(dropout_rate=0.1))
    with pytest.raises(CheckpointError,
                       match=r"config.json: unknown config keys: \['dropout_rate'\]"):
        load_policy(directory)
    _edit_json(directory / CONFIG_FILE, lambda d: [d["config"].pop("dropout_rate"),
                                                   d["config"].pop("horizon")])
    with pytest.raises(CheckpointError, match=r"missing config keys: \['horizon'\]"):
        load_policy(directory)


def test_wrong_tensor_shape(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    tensors = load_file(str(directory / WEIGHTS_FILE))
    tensors["output_proj.bias"] = torch.zeros(3)
    save_file(tensors, str(directory / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match="tensor 'output_proj.bias' has shape"):
        load_policy(directory)
    del tensors["output_proj.bias"]
    save_file(tensors, str(directory / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match=r"missing \['output_proj.bias'\]"):
        load_policy(directory)


def test_missing_stats_key(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    _edit_json(directory / NORMALIZATION_FILE, lambda d: d.pop("observation.object"))
    with pytest.raises(CheckpointError,
                       match="normalization.json: .*missing feature 'observation.object'"):
        load_policy(directory)


def test_a_zeroed_std_is_refused_naming_the_file_and_feature(saved, tmp_path):
    directory = _copy(saved, tmp_path)

    def zero(d):
        d["observation.object"]["std"][2] = 0.0
    _edit_json(directory / NORMALIZATION_FILE, zero)
    with pytest.raises(CheckpointError) as error:
        load_policy(directory)
    assert str(error.value).startswith(f"{directory / NORMALIZATION_FILE}: feature "
                                       "'observation.object': std[2] is 0.0 but the feature ranges")


def test_corrupt_files_are_named(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    weights = directory / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated
    with pytest.raises(CheckpointError, match="model.safetensors: corrupt"):
        load_policy(directory)
    weights.write_bytes(b"\x80\x04garbage that is not safetensors")
    with pytest.raises(CheckpointError, match="model.safetensors: corrupt"):
        load_policy(directory)
    (directory / ACTION_SPEC_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="action_spec.json: not valid JSON"):
        load_policy(directory)
    (directory / ACTION_SPEC_FILE).unlink()
    with pytest.raises(CheckpointError, match="action_spec.json: missing"):
        load_policy(directory)


def test_action_spec_must_match_config(saved, tmp_path):
    directory = _copy(saved, tmp_path)
    _edit_json(directory / ACTION_SPEC_FILE, lambda d: d["groups"][1].update(
        representation="relative_ee_pose"))
    with pytest.raises(CheckpointError, match="action_spec.json"):
        load_policy(directory)
    directory = _copy(saved, tmp_path / "b")
    extra = ["e0", "e1", "e2"]  # 6 + 3 relative arm joints: same 9 action dims, 11 joints

    def widen_arm(d):
        d["joint_names"] += extra
        d["groups"][0].update(joints=d["groups"][0]["joints"] + extra,
                              representation="relative_joint", kinematics=None)
    _edit_json(directory / ACTION_SPEC_FILE, widen_arm)
    with pytest.raises(CheckpointError, match="action_spec.json vs config.json: .*11 joints"):
        load_policy(directory)
