"""The pure parts of benchmarks/indicator_separation.py."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "indicator_separation", Path(__file__).resolve().parents[1] / "indicator_separation.py")
separation = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(separation)


def test_smooth_is_a_centred_average_that_shrinks_at_the_ends():
    values = np.array([0.0, 3.0, 0.0, 3.0])
    np.testing.assert_allclose(separation.smooth(values, 1), values)
    np.testing.assert_allclose(separation.smooth(values, 3), [1.5, 1.0, 2.0, 1.5])
    np.testing.assert_allclose(separation.smooth(np.full(7, 2.0), 5), 2.0)


def test_auc():
    assert separation.auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert separation.auc(np.array([0.0]), np.array([1.0])) == 0.0
    assert separation.auc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5
    rng = np.random.default_rng(0)
    assert separation.auc(rng.normal(size=4000), rng.normal(size=4000)) == pytest.approx(0.5, abs=0.02)
    assert np.isnan(separation.auc(np.array([]), np.array([1.0])))
