"""Per-feature normalisation statistics (z-score), computed in the trained representation.

A feature key (e.g. "observation.state", "observation.object", "action") maps to statistics
over its last axis: mean, std, min, max, each of shape (F,). All leading axes of the data
(samples, and the horizon for actions) are pooled, so one chunk step is normalised like any
other. Keys and shapes are checked against the model's features: a missing or extra key, or
a shape mismatch, raises `NormalizationError` naming the key (never a silent pass-through).

A (numerically) constant feature has std ~0; it is centred only (`FeatureStats.scale` is 1
where std < MIN_STD), in training and at inference alike, so a stored std of 0 never divides.
Statistics read from a file (`from_dict`) must be what `from_data` could have written: finite,
min <= mean <= max, std at most half the range, and a std below MIN_STD only for a feature
that is constant (range <= CONSTANT_RANGE). Anything else (a std zeroed or inflated by hand or
by corruption) would silently mis-scale the feature, and is refused naming the feature, the
element and the values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Features whose std is below this are (numerically) constant: dividing by their std would
# blow noise up, so they are only centred (scale 1).
MIN_STD = 1e-6
# The widest range a feature with std < MIN_STD can have in real data (std >= range /
# sqrt(2 n): ~1e-3 takes half a million samples all at the centre but two).
CONSTANT_RANGE = 1e-3


class NormalizationError(ValueError):
    """Statistics that do not match the features they are applied to."""


@dataclass(frozen=True)
class FeatureStats:
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.mean.shape

    @property
    def scale(self) -> np.ndarray:
        """The divisor actually used: std, with constant features guarded to 1."""
        return np.where(self.std < MIN_STD, 1.0, self.std)


class NormalizationStats:
    """Statistics per feature key; normalize/unnormalize numpy arrays or torch tensors."""

    def __init__(self, features: dict[str, FeatureStats]):
        self.features = dict(features)
        self._torch_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def from_data(cls, data: dict[str, np.ndarray]) -> "NormalizationStats":
        """data: key -> array (..., F) of samples in the trained representation."""
        features = {}
        for key, values in data.items():
            values = np.asarray(values, dtype=np.float64)
            if values.ndim < 1 or values.size == 0:
                raise NormalizationError(f"cannot compute statistics of {key!r} from an empty "
                                         f"array of shape {values.shape}")
            flat = values.reshape(-1, values.shape[-1])
            if not np.all(np.isfinite(flat)):
                raise NormalizationError(f"feature {key!r} contains non-finite values")
            features[key] = FeatureStats(flat.mean(0), flat.std(0), flat.min(0), flat.max(0))
        return cls(features)

    def keys(self) -> list[str]:
        return sorted(self.features)

    def validate(self, feature_shapes: dict[str, tuple[int, ...]]) -> None:
        """Raise naming the first key that is missing, extra, or of the wrong shape."""
        for key in sorted(feature_shapes):
            if key not in self.features:
                raise NormalizationError(f"normalisation statistics are missing feature {key!r} "
                                         f"(have {self.keys()})")
        for key in self.keys():
            if key not in feature_shapes:
                raise NormalizationError(f"normalisation statistics have feature {key!r}, which "
                                         f"the model does not use (features: "
                                         f"{sorted(feature_shapes)})")
            if self.features[key].shape != tuple(feature_shapes[key]):
                raise NormalizationError(f"normalisation statistics for {key!r} have shape "
                                         f"{self.features[key].shape}, the feature has "
                                         f"{tuple(feature_shapes[key])}")

    def _stats_for(self, key: str, x) -> FeatureStats:
        if key not in self.features:
            raise NormalizationError(f"no normalisation statistics for feature {key!r} "
                                     f"(have {self.keys()})")
        stats = self.features[key]
        if tuple(x.shape[-len(stats.shape):]) != stats.shape:
            raise NormalizationError(f"feature {key!r} has trailing shape {tuple(x.shape)}, "
                                     f"statistics expect (..., {stats.shape[-1]})")
        return stats

    def _torch_params(self, key: str, stats: FeatureStats, like: torch.Tensor):
        cache_key = (key, like.dtype, like.device)
        if cache_key not in self._torch_cache:
            self._torch_cache[cache_key] = (
                torch.as_tensor(stats.mean, dtype=like.dtype, device=like.device),
                torch.as_tensor(stats.scale, dtype=like.dtype, device=like.device))
        return self._torch_cache[cache_key]

    def normalize(self, key: str, x):
        """(..., F) raw -> (..., F) zero-mean unit-std; numpy in numpy out, torch in torch out."""
        stats = self._stats_for(key, x)
        if isinstance(x, torch.Tensor):
            mean, scale = self._torch_params(key, stats, x)
            return (x - mean) / scale
        return (np.asarray(x, dtype=np.float64) - stats.mean) / stats.scale

    def unnormalize(self, key: str, x):
        """Inverse of `normalize`."""
        stats = self._stats_for(key, x)
        if isinstance(x, torch.Tensor):
            mean, scale = self._torch_params(key, stats, x)
            return x * scale + mean
        return np.asarray(x, dtype=np.float64) * stats.scale + stats.mean

    def to_dict(self) -> dict:
        return {key: {"mean": s.mean.tolist(), "std": s.std.tolist(), "min": s.min.tolist(),
                      "max": s.max.tolist()} for key, s in sorted(self.features.items())}

    @classmethod
    def from_dict(cls, data: dict) -> "NormalizationStats":
        if not isinstance(data, dict):
            raise NormalizationError(f"normalisation statistics must be a mapping, got "
                                     f"{type(data).__name__}")
        features = {}
        for key, entry in data.items():
            fields = {"mean", "std", "min", "max"}
            if not isinstance(entry, dict) or set(entry) != fields:
                got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
                raise NormalizationError(f"statistics of {key!r} must have exactly "
                                         f"{sorted(fields)}, got {got}")
            arrays = {name: np.asarray(entry[name], dtype=np.float64) for name in fields}
            shapes = {a.shape for a in arrays.values()}
            if len(shapes) != 1 or arrays["mean"].ndim != 1:
                raise NormalizationError(f"statistics of {key!r} have inconsistent shapes "
                                         f"{ {n: a.shape for n, a in arrays.items()} }")
            _check_stored(key, arrays)
            features[key] = FeatureStats(**arrays)
        return cls(features)


def _check_stored(key: str, arrays: dict[str, np.ndarray]) -> None:
    """Refuse stored statistics that data cannot have produced (module docstring)."""
    mean, std, low, high = arrays["mean"], arrays["std"], arrays["min"], arrays["max"]
    for name in ("mean", "std", "min", "max"):
        bad = np.flatnonzero(~np.isfinite(arrays[name]))
        if bad.size:
            raise NormalizationError(f"feature {key!r}: {name}[{bad[0]}] is {arrays[name][bad[0]]} "
                                     f"(statistics must be finite)")
    spread = high - low
    tolerance = 1e-9 * np.maximum(1.0, np.maximum(np.abs(low), np.abs(high)))
    problems = [
        (std < 0, lambda i: f"std[{i}] is {std[i]}, negative"),
        (spread < 0, lambda i: f"min[{i}] {low[i]} is above max[{i}] {high[i]}"),
        ((mean < low - tolerance) | (mean > high + tolerance),
         lambda i: f"mean[{i}] {mean[i]} is outside [min, max] = [{low[i]}, {high[i]}]"),
        (std > spread / 2 + tolerance,
         lambda i: f"std[{i}] {std[i]} is above half the range [{low[i]}, {high[i]}]"),
        ((std < MIN_STD) & (spread > CONSTANT_RANGE),
         lambda i: f"std[{i}] is {std[i]} but the feature ranges over [{low[i]}, {high[i]}]: a "
                   f"std below {MIN_STD} is only that of a constant feature (it would be left "
                   f"unscaled)"),
    ]
    for bad, describe in problems:
        index = np.flatnonzero(bad)
        if index.size:
            raise NormalizationError(f"feature {key!r}: {describe(int(index[0]))}")
