"""Label store: round trip with the dataset, validation errors, histogram PNG."""
import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from dexpie_learning.critic import ReturnConfig
from dexpie_learning.labels import (LabelStoreError, label_dataset, label_paths, load_labels,
                                    plot_label_histograms, save_labels)

IDS = ("20260101T000000_relocate_init_aaaa", "20260101T000001_relocate_grasped_bbbb",
       "20260101T000002_relocate_init_cccc")


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    values = {i: np.sort(rng.uniform(-1, 0, size=25 + k)) for k, i in enumerate(IDS)}
    interventions = {i: np.zeros(len(v), bool) for i, v in values.items()}
    interventions[IDS[1]][5:15] = True
    return label_dataset(values, interventions, horizon=4,
                         returns=ReturnConfig(60, failure_penalty=0.5, failure_decay=0.98),
                         critic_checkpoints=["/runs/critic_0", "/runs/critic_1"],
                         extra={"note": "test"})


def lengths(labels):
    return {i: e.num_steps for i, e in labels.episodes.items()}


def test_round_trip(tmp_path, labels):
    path = save_labels(tmp_path, "round1", labels)
    assert path == tmp_path / "labels" / "round1.safetensors"
    header = json.loads((tmp_path / "labels" / "round1.json").read_text())
    assert header["indicator"]["q_low"] == labels.indicator.q_low
    assert header["returns"] == {"max_episode_steps": 60, "failure_penalty": 0.5,
                                 "failure_decay": 0.98}
    assert header["horizon"] == 4 and header["episode_ids"] == sorted(IDS)
    loaded = load_labels(tmp_path, "round1", episode_lengths=lengths(labels))
    assert loaded.indicator == labels.indicator and loaded.returns == labels.returns
    assert loaded.critic_checkpoints == ("/runs/critic_0", "/runs/critic_1")
    assert loaded.extra == {"note": "test", "human_override": "all"} and loaded.horizon == 4
    for i in IDS:
        for name in ("values", "advantages", "optimality", "binary_indicator", "human_window"):
            np.testing.assert_array_equal(getattr(loaded.episodes[i], name),
                                          getattr(labels.episodes[i], name))
    assert loaded.episodes[IDS[1]].human_window.dtype == bool
    assert loaded.episodes[IDS[1]].human_window[5:12].all()
    np.testing.assert_array_equal(loaded.optimality_of(IDS[0]), labels.episodes[IDS[0]].optimality)


def test_load_names_missing_and_extra_episode_ids(tmp_path, labels):
    save_labels(tmp_path, "round1", labels)
    bags = [IDS[0], IDS[2], "20260102T000000_relocate_init_dddd"]
    with pytest.raises(LabelStoreError) as error:
        load_labels(tmp_path, "round1", episode_ids=bags)
    assert "missing ['20260102T000000_relocate_init_dddd']" in str(error.value)
    assert f"extra ['{IDS[1]}']" in str(error.value)
    wrong = dict(lengths(labels), **{IDS[0]: 99})
    with pytest.raises(LabelStoreError, match="labels have 25 steps, the bag has 99"):
        load_labels(tmp_path, "round1", episode_lengths=wrong)


def test_load_rejects_bad_files(tmp_path, labels):
    with pytest.raises(LabelStoreError, match="does not exist"):
        load_labels(tmp_path, "round1")
    with pytest.raises(LabelStoreError, match="label set name"):
        label_paths(tmp_path, "../escape")
    tensors_path = save_labels(tmp_path, "round1", labels)
    header_path = tensors_path.with_suffix(".json")
    tensors = load_file(str(tensors_path))
    save_file({k: v for k, v in tensors.items() if k != f"{IDS[0]}/optimality"},
              str(tensors_path))
    with pytest.raises(LabelStoreError, match="missing \\['.*aaaa/optimality'\\]"):
        load_labels(tmp_path, "round1")
    bad = dict(tensors, **{f"{IDS[0]}/optimality": tensors[f"{IDS[0]}/optimality"] + 2.0})
    save_file(bad, str(tensors_path))
    with pytest.raises(LabelStoreError, match="optimality must be in \\[0, 1\\]"):
        load_labels(tmp_path, "round1")
    short = dict(tensors, **{f"{IDS[0]}/values": tensors[f"{IDS[0]}/values"][:-1].copy()})
    save_file(short, str(tensors_path))
    with pytest.raises(LabelStoreError, match="values has shape \\(24,\\)"):
        load_labels(tmp_path, "round1")
    save_file(tensors, str(tensors_path))
    header = json.loads(header_path.read_text())
    header_path.write_text(json.dumps(dict(header, format_version=2)))
    with pytest.raises(LabelStoreError, match="format_version 2"):
        load_labels(tmp_path, "round1")
    header_path.write_text(json.dumps({k: v for k, v in header.items() if k != "horizon"}))
    with pytest.raises(LabelStoreError, match="missing \\['horizon'\\]"):
        load_labels(tmp_path, "round1")
    header_path.write_text(json.dumps(dict(header, returns={"max_episode_steps": 0})))
    with pytest.raises(LabelStoreError, match="max_episode_steps"):
        load_labels(tmp_path, "round1")
    header_path.write_text(json.dumps(header))
    assert load_labels(tmp_path, "round1").horizon == 4


def test_histogram_png(tmp_path, labels):
    path = plot_label_histograms(labels, tmp_path / "hist.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
