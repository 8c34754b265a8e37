"""The chunk sampler of linear_backend "numpy": FlowMatchingPolicy.sample for one observation
(batch size 1), from the FiLM layer to the last Euler step, in numpy on the model's weights.

Why: at batch size 1 the Euler loop is ~80 small matrix products (10 steps x 8 layers,
8.3 MB of float32 weights per step with the default hidden size 512) and ~250 tiny
elementwise ops. Streaming the weights costs ~1.4 ms per chunk on the project's 2-core AMD
EPYC (one thread, OpenBLAS); the rest was bookkeeping: torch ops cost ~3-5 us each to
dispatch, numpy's ~1-2 us, and torch's MKL ran 1- and 2-row products 2-3x slower than
OpenBLAS (benchmarks/policy_inference_profile.py).

Same arithmetic as `FlowMatchingPolicy.velocity` / `flow.reference.reference_sample`, summed
in another order (tests hold the chunks within 1e-5 of the reference), with exact rewrites
of work that does not change within a chunk or that is linear:
- the input layer's flow-time columns, its bias and the step's time features are one
  (hidden,) row per step, computed once per step grid (StepGrid.step_bias);
- the prefix positions are the same clean actions at every step (the reference overwrites
  them before each step), so their share of the input layer is computed once per chunk and
  only the generated positions' columns are multiplied per step;
- the output layer computes only the generated positions (the prefix is returned as given),
  with the output LayerNorm's affine and the step size dt folded into its weights;
- the guidance mix v_u + w (v_c - v_u) is linear in the output layer's input, so the two
  branches are mixed before the output layer, which then runs on one row.

Shapes: H horizon, D action_dim, d prefix length, N flow steps, R rows (1, or 2 with
classifier-free guidance: [conditional; unconditional]).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerWeights:
    """The FiLM layer and the residual blocks as numpy arrays sharing the parameters' memory
    (block weights as (in, out) views)."""
    film_weight: np.ndarray            # (L * 2 * hidden, hidden), the layer's own layout
    film_bias: np.ndarray              # (L * 2 * hidden,)
    blocks: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], ...]
    norm_eps: float                    # the output LayerNorm's


@dataclass(frozen=True)
class StepGrid:
    """What depends on the prefix length d but not on the observation; built from the
    parameters (copies: the caller rebuilds it when a parameter changes)."""
    delay: int
    step_bias: np.ndarray              # (N, hidden) flow-time columns @ step times + bias + time features
    prefix_weight: np.ndarray          # (d * D, hidden) input-layer rows of the prefix positions
    chunk_weight: np.ndarray           # ((H - d) * D, hidden) rows of the generated positions
    output_weight: np.ndarray          # (hidden, (H - d) * D) dt * diag(norm weight) @ W_out
    output_bias: np.ndarray            # ((H - d) * D,) dt * (norm bias @ W_out + b_out)


def step_grid(delay: int, action_dim: int, num_steps: int, step_times: np.ndarray,
              time_features: np.ndarray, input_weight: np.ndarray, input_bias: np.ndarray,
              norm_weight: np.ndarray, norm_bias: np.ndarray, output_weight: np.ndarray,
              output_bias: np.ndarray) -> StepGrid:
    """StepGrid from the layers' parameters in torch's layout: input (hidden, H*D + H),
    output (H*D, hidden); step_times (N, H) per-position flow times, time_features
    (N, hidden)."""
    chunk, known = output_weight.shape[0], delay * action_dim
    dt = 1.0 / num_steps
    generated = output_weight[known:]                                       # (gen, hidden)
    # Copies of the used columns, transposed views of them: (in, out) in the layout OpenBLAS
    # streams fastest here (benchmarks/policy_inference_profile.py).
    return StepGrid(
        delay=delay,
        step_bias=step_bias(step_times, time_features, input_weight, input_bias),
        prefix_weight=input_weight[:, :known].T,
        chunk_weight=input_weight[:, known:chunk].copy().T,
        output_weight=(generated * (dt * norm_weight)).T,
        output_bias=dt * (generated @ norm_bias + output_bias[known:]))


def step_bias(step_times: np.ndarray, time_features: np.ndarray, input_weight: np.ndarray,
              input_bias: np.ndarray) -> np.ndarray:
    """(N, hidden): per step, the input layer's flow-time columns at the step's per-position
    flow times (N, H) + its bias + the step's time features (N, hidden)."""
    horizon = step_times.shape[1]
    return step_times @ input_weight[:, -horizon:].T + input_bias + time_features


def film_rows(layers: LayerWeights, conditions: np.ndarray, num_layers: int
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """conditions (R, hidden), observation + optimality condition per row -> per block the
    gains (1 + scale) and shifts, each (R, hidden)."""
    silu = conditions / (1.0 + np.exp(-conditions))
    # One matrix-vector product per row: on OpenBLAS a 2-row product of this 3072-wide layer
    # is 2x slower than two 1-row ones.
    film = np.stack([layers.film_weight @ row for row in silu]) + layers.film_bias
    film = film.reshape(len(conditions), num_layers, 2, -1)
    gains = [film[:, block, 0] + 1.0 for block in range(num_layers)]
    shifts = [np.ascontiguousarray(film[:, block, 1]) for block in range(num_layers)]
    return gains, shifts


def integrate(layers: LayerWeights, grid: StepGrid, noise: np.ndarray,
              prefix: np.ndarray | None, gains: list[np.ndarray], shifts: list[np.ndarray],
              cfg_scale: float | None) -> np.ndarray:
    """The Euler loop from noise (H, D) with the committed prefix (d, D) (None when d = 0)
    -> the chunk (H, D). cfg_scale None: one row, unguided; else rows [conditional;
    unconditional] mixed as v_u + cfg_scale * (v_c - v_u)."""
    horizon, action_dim = noise.shape
    known = grid.delay * action_dim
    chunk = noise.reshape(1, horizon * action_dim).copy()
    x = chunk[:, known:]                                              # (1, (H - d) * D), a view
    step_bias = grid.step_bias
    if grid.delay:
        chunk[:, :known] = prefix.reshape(1, known)
        step_bias = step_bias + chunk[:, :known] @ grid.prefix_weight
    rows = 1 if cfg_scale is None else 2
    dtype = x.dtype
    h = np.empty((rows, step_bias.shape[1]), dtype)
    normed, gate = np.empty_like(h), np.empty_like(h)
    for step_bias_row in step_bias:
        # Both branches see the same chunk; only their FiLM differs.
        np.add(x @ grid.chunk_weight, step_bias_row, out=h)
        for (w1, b1, w2, b2, eps), gain, shift in zip(layers.blocks, gains, shifts):
            _layer_norm(h, eps, normed)
            normed *= gain
            normed += shift
            a = normed @ w1
            a += b1
            np.negative(a, out=gate)                                  # SiLU: a / (1 + e^-a)
            np.exp(gate, out=gate)
            gate += 1.0
            a /= gate
            out = a @ w2
            out += b2
            h += out
        _layer_norm(h, layers.norm_eps, normed)
        if rows == 2:
            mixed = normed[1] + dtype.type(cfg_scale) * (normed[0] - normed[1])
        else:
            mixed = normed[0]
        v = mixed @ grid.output_weight
        v += grid.output_bias
        x += v
    return chunk.reshape(horizon, action_dim)


def _layer_norm(h: np.ndarray, eps: float, out: np.ndarray) -> None:
    """out = (h - mean) / sqrt(var + eps) per row (biased variance, as torch's)."""
    width = h.shape[1]
    np.subtract(h, h.sum(axis=1, keepdims=True) / width, out=out)
    scale = np.einsum("ij,ij->i", out, out)[:, None]
    scale /= width
    scale += eps
    np.sqrt(scale, out=scale)
    out /= scale
