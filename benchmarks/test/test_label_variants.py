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


def test_human_variants_follow_the_labels_human_override_rule():
    labels, interventions = _labels()
    human = labels.episodes["e0"].human_window
    for outcome, rule in ((True, "successful"), (False, "successful"), (True, "none")):
        successes = {k: outcome for k in labels.episodes}
        variant = {"successful": "human-success", "none": "human-critic"}[rule]
        scores = variants.variant_optimality(variant, labels, interventions, successes)
        expected = label_dataset({k: e.values for k, e in labels.episodes.items()},
                                 interventions, 8, ReturnConfig(100, 1.0, 0.99),
                                 human_override=rule, successes=successes)
        for k in labels.episodes:
            np.testing.assert_array_equal(scores[k], expected.episodes[k].optimality)
        forced = rule == "successful" and outcome
        assert np.all(scores["e0"][human] == 1.0) == forced, (variant, outcome)


def test_budget_suffixes_name_the_base_and_the_budget():
    assert variants.budget_of("dexpie") == ("dexpie", 1, 0)
    assert variants.budget_of("hg-dagger-4x") == ("hg-dagger", 4, 0)
    assert variants.budget_of("hg-dagger+success-4x") == ("hg-dagger+success", 4, 0)
    assert variants.budget_of("human-success-e200") == ("human-success", 1, 200)
    assert variants.budget_of("bc-e50") == ("bc", 1, 50)
    assert variants.budget_of("human-success") == ("human-success", 1, 0)
    assert variants.budget_of("dexpie-w1") == ("dexpie-w1", 1, 0)
    assert variants.variant_name("dexpie-e100") == "dexpie-e100"
    for bad in ("dexpie-w1-e100", "dexpie-e0", "nothing", "dexpie-4x-e10"):
        with pytest.raises(Exception, match="unknown variant"):
            variants.variant_name(bad)


def test_successful_demo_variants_set_the_training_config_and_nothing_else():
    from dexpie_experiment.pipeline import PipelineConfig
    config = PipelineConfig(train_steps=100)
    for variant, method in (("bc-success", "bc"), ("hg-dagger-successful-demos", "hg-dagger"),
                            ("dexpie-successful-demos-e20", "policy")):
        got_method, train_config = variants.variant_train_config(variant, config)
        assert got_method == method and train_config.demonstrations == "successful"
    method, train_config = variants.variant_train_config("dexpie-e20", config)
    assert (method, train_config.demonstrations, train_config.epochs) == ("policy", "all", 20)
    assert variants.variant_train_config("hg-dagger-2x", config)[1].steps == 200
    method, train_config = variants.variant_train_config("critic-noise", config)
    assert (method, train_config.demonstrations) == ("policy", "all")
    assert variants.variant_name("critic-noise-e60") == "critic-noise-e60"
