"""The distributional value support: K bins on [-1, 0] and Gaussian-smoothed targets.

Bin i has centre c_i = -1 + i / (K - 1) (so c_0 = -1, c_{K-1} = 0) and covers
[c_i - w/2, c_i + w/2] with width w = 1 / (K - 1). A scalar target v becomes the mass that a
Gaussian N(v, sigma^2), sigma = `sigma_bins` * w, puts in each bin's interval (the
"histogram loss with Gaussian smoothing", HL-Gauss), renormalised to sum to 1 over the
support. Integrating over the interval instead of sampling the density at the centre makes
the expectation sum_i p_i c_i equal v to ~1e-6 for targets more than ~3 sigma inside the
support. At the edges the Gaussian is truncated, so the expectation of a target at exactly
0 or -1 sits about 0.8 sigma (0.004 with K = 201) inside the support: the value a critic can
represent never leaves [-1, 0].
"""
from __future__ import annotations

import math

import torch

VALUE_MIN = -1.0
VALUE_MAX = 0.0
DEFAULT_NUM_BINS = 201
DEFAULT_SIGMA_BINS = 1.0


def bin_width(num_bins: int) -> float:
    if num_bins < 2:
        raise ValueError(f"num_bins must be >= 2, got {num_bins}")
    return (VALUE_MAX - VALUE_MIN) / (num_bins - 1)


def bin_centers(num_bins: int, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> torch.Tensor:
    """(K,) centres c_i from -1 to 0."""
    bin_width(num_bins)
    return torch.linspace(VALUE_MIN, VALUE_MAX, num_bins, dtype=dtype, device=device)


def smoothed_one_hot(values: torch.Tensor, num_bins: int,
                     sigma_bins: float = DEFAULT_SIGMA_BINS) -> torch.Tensor:
    """values (N,) in [-1, 0] -> (N, K) probabilities (each row sums to 1)."""
    if values.ndim != 1:
        raise ValueError(f"values must be (N,), got shape {tuple(values.shape)}")
    if not torch.all(torch.isfinite(values)) or torch.any(
            (values < VALUE_MIN) | (values > VALUE_MAX)):
        bad = values[~(torch.isfinite(values) & (values >= VALUE_MIN) & (values <= VALUE_MAX))]
        raise ValueError(f"target values must be finite and in [{VALUE_MIN}, {VALUE_MAX}], "
                         f"got e.g. {bad[0].item()!r}")
    if not sigma_bins > 0:
        raise ValueError(f"sigma_bins must be > 0, got {sigma_bins!r}")
    width = bin_width(num_bins)
    centers = bin_centers(num_bins, dtype=values.dtype, device=values.device)
    edges = torch.cat([centers - width / 2, centers[-1:] + width / 2])            # (K + 1,)
    sigma = sigma_bins * width
    cdf = 0.5 * (1.0 + torch.erf((edges[None] - values[:, None]) / (sigma * math.sqrt(2.0))))
    mass = cdf[:, 1:] - cdf[:, :-1]                                                # (N, K)
    return mass / mass.sum(dim=-1, keepdim=True)


def expected_value(probabilities: torch.Tensor) -> torch.Tensor:
    """(..., K) probabilities -> (...,) V = sum_i p_i c_i."""
    centers = bin_centers(probabilities.shape[-1], dtype=probabilities.dtype,
                          device=probabilities.device)
    return probabilities @ centers
