"""The pure parts of benchmarks/label_variants.py: the variant indicators."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dexpie_learning.critic.returns import ReturnConfig
from dexpie_learning.labels.labelling import label_dataset

_SPEC = importlib.util.spec_from_file_location(
    "label_variants", Path(__file__).resolve().parents[1] / "label_variants.py")
variants = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(variants)


def test_takeover_windows_mark_the_policy_ticks_before_each_takeover():
    intervention = np.array([0, 0, 0, 0, 1, 1, 0, 0, 1], dtype=bool)
    marked = variants.takeover_windows(intervention, horizon=2)
    np.testing.assert_array_equal(marked, [0, 0, 1, 1, 0, 0, 1, 1, 0])
    assert not variants.takeover_windows(np.ones(5, dtype=bool), 3).any()
    assert not variants.takeover_windows(np.zeros(5, dtype=bool), 3).any()


def _labels():
    rng = np.random.default_rng(0)
    values = {f"e{i}": np.cumsum(rng.normal(0, 0.01, 60)) - 0.5 for i in range(4)}
    interventions = {k: np.zeros(60, dtype=bool) for k in values}
    interventions["e0"][20:40] = True
    return label_dataset(values, interventions, 8, ReturnConfig(100, 1.0, 0.99)), interventions


def test_variants_keep_human_windows_at_one_and_reshape_the_policy_ticks():
    labels, interventions = _labels()
    base = variants.variant_optimality("dexpie", labels, interventions)
    for name, score in base.items():   # the unchanged variant reproduces the stored labels
        np.testing.assert_allclose(score, labels.episodes[name].optimality)
    human = np.concatenate([e.human_window for e in labels.episodes.values()])
    for variant in ("strict", "strict-takeover", "cap05", "humanpos"):
        scores = variants.variant_optimality(variant, labels, interventions)
        flat = np.concatenate([scores[k] for k in labels.episodes])
        assert np.all(flat[human] == 1.0), variant
        assert np.all((flat >= 0) & (flat <= 1)), variant
    strict = np.concatenate(list(variants.variant_optimality("strict", labels,
                                                             interventions).values()))
    plain = np.concatenate([base[k] for k in labels.episodes])
    assert (strict[~human] >= 0.5).mean() < (plain[~human] >= 0.5).mean()
    assert abs((strict[~human] >= 0.5).mean() - 0.2) < 0.02   # the top fifth of their own
    cap = np.concatenate(list(variants.variant_optimality("cap05", labels,
                                                          interventions).values()))
    assert cap[~human].max() <= 0.5
    humanpos = np.concatenate(list(variants.variant_optimality("humanpos", labels,
                                                               interventions).values()))
    np.testing.assert_array_equal(humanpos, human.astype(float))
    takeover = variants.variant_optimality("strict-takeover", labels, interventions)["e0"]
    assert np.all(takeover[12:20] == 0.0)


def test_policy_ticks_are_added_to_hg_daggers_weights():
    weights = np.array([1.0, 1.0, 0.0, 0.0, 0.0])       # two human ticks, three policy ticks
    optimality = np.array([1.0, 1.0, 0.95, 0.5, 0.9])
    np.testing.assert_array_equal(variants.with_policy_ticks(
        weights, optimality >= variants.TOP_POLICY_TICKS), [1, 1, 1, 0, 1])
    np.testing.assert_array_equal(variants.with_policy_ticks(weights, np.zeros(5, bool)), weights)
    with pytest.raises(ValueError, match="differ"):
        variants.with_policy_ticks(weights, optimality[:3] > 0)
