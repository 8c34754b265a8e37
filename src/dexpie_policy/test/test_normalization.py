import json

import numpy as np
import pytest
import torch

from dexpie_policy.normalization import NormalizationError, NormalizationStats


def _stats():
    rng = np.random.default_rng(0)
    return NormalizationStats.from_data({
        "observation.state": rng.normal(2.0, 3.0, size=(500, 4)),
        "action": rng.normal(-1.0, 0.5, size=(100, 8, 3)),  # horizon pooled
    })


def test_normalize_round_trip_numpy_and_torch():
    stats = _stats()
    x = np.random.default_rng(1).normal(size=(7, 8, 3))
    z = stats.normalize("action", x)
    np.testing.assert_allclose(stats.unnormalize("action", z), x, atol=1e-12)
    zt = stats.normalize("action", torch.as_tensor(x, dtype=torch.float32))
    assert isinstance(zt, torch.Tensor) and zt.dtype == torch.float32
    np.testing.assert_allclose(zt.numpy(), z, atol=1e-5)
    np.testing.assert_allclose(stats.unnormalize("action", zt).numpy(), x, atol=1e-5)
    state = np.random.default_rng(2).normal(2.0, 3.0, size=(5000, 4))
    normalized = NormalizationStats.from_data({"s": state}).normalize("s", state)
    np.testing.assert_allclose(normalized.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(normalized.std(0), 1, atol=1e-9)


def test_constant_feature_is_centred_not_blown_up():
    data = np.stack([np.full(10, 5.0), np.arange(10.0)], axis=-1)
    stats = NormalizationStats.from_data({"x": data})
    out = stats.normalize("x", data + np.array([1e-3, 0.0]))
    np.testing.assert_allclose(out[:, 0], 1e-3)
    assert np.all(np.isfinite(out))


def test_json_round_trip():
    stats = _stats()
    again = NormalizationStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    for key in stats.keys():
        np.testing.assert_array_equal(again.features[key].std, stats.features[key].std)


def test_key_mismatches_name_the_key():
    stats = _stats()
    with pytest.raises(NormalizationError, match="missing feature 'observation.object'"):
        stats.validate({"observation.state": (4,), "observation.object": (2,), "action": (3,)})
    with pytest.raises(NormalizationError, match="'action', which the model does not use"):
        stats.validate({"observation.state": (4,)})
    with pytest.raises(NormalizationError, match="'observation.state' have shape"):
        stats.validate({"observation.state": (5,), "action": (3,)})
    stats.validate({"observation.state": (4,), "action": (3,)})
    with pytest.raises(NormalizationError, match="'observation.images'"):
        stats.normalize("observation.images", np.zeros(3))
    with pytest.raises(NormalizationError, match="'action' has trailing shape"):
        stats.normalize("action", np.zeros((2, 4)))
    with pytest.raises(NormalizationError, match="'action' must have exactly"):
        NormalizationStats.from_dict({"action": {"mean": [0.0]}})
    with pytest.raises(NormalizationError, match="'x' contains non-finite"):
        NormalizationStats.from_data({"x": np.array([[np.nan]])})


def test_stored_constant_feature_with_zero_std_loads_and_is_centred():
    # Training data with a joint that never moved: std 0 is legitimate and never divides.
    data = np.stack([np.full(10, 5.0), np.arange(10.0)], axis=-1)
    stored = json.loads(json.dumps(NormalizationStats.from_data({"x": data}).to_dict()))
    assert stored["x"]["std"][0] == 0.0
    again = NormalizationStats.from_dict(stored)
    np.testing.assert_allclose(again.normalize("x", data)[:, 0], 0.0)


def _stored(**changes):
    entry = {"mean": [0.0, 2.0], "std": [1.0, 0.5], "min": [-2.0, 1.0], "max": [2.0, 3.0]}
    for name, (index, value) in changes.items():
        entry[name][index] = value
    return {"observation.state": entry}


@pytest.mark.parametrize("changes, message", [
    (dict(std=(1, 0.0)), r"feature 'observation.state': std\[1\] is 0.0 but the feature ranges "
                         r"over \[1.0, 3.0\]"),
    (dict(std=(0, 1e-9)), r"std\[0\] is 1e-09 but the feature ranges over \[-2.0, 2.0\]"),
    (dict(std=(1, float("nan"))), r"feature 'observation.state': std\[1\] is nan \(statistics must be finite\)"),
    (dict(mean=(0, float("inf"))), r"mean\[0\] is inf"),
    (dict(std=(0, -1.0)), r"std\[0\] is -1.0, negative"),
    (dict(std=(0, 5.0)), r"std\[0\] 5.0 is above half the range \[-2.0, 2.0\]"),
    (dict(mean=(1, 7.0)), r"mean\[1\] 7.0 is outside \[min, max\] = \[1.0, 3.0\]"),
    (dict(min=(0, 3.0)), r"min\[0\] 3.0 is above max\[0\] 2.0"),
])
def test_stored_statistics_that_data_cannot_give_are_refused(changes, message):
    NormalizationStats.from_dict(_stored())  # the unchanged entry loads
    with pytest.raises(NormalizationError, match=message):
        NormalizationStats.from_dict(_stored(**changes))
