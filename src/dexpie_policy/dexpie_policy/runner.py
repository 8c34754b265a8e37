"""Deployment entry point: absolute joint state in, absolute joint-target chunk out.

`PolicyRunner.predict_chunk` is what the asynchronous scheduler calls. It anchors the chunk at
the observation-time joint positions, re-expresses the committed prefix (absolute targets the
robot executes while this chunk is computed) relative to that anchor, feeds it as the clean
prefix, and converts the generated chunk back to absolute targets.

The training-side helpers live in `chunk_dataset` and `training` (re-exported here).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dexpie_common.hand import HandDescription

from dexpie_policy.actions import ActionSpec, reanchor, to_absolute
from dexpie_policy.checkpoint import check_compatible, load_hand, load_policy
from dexpie_policy.chunk_dataset import (ChunkDataset, EpisodeArrays, image_tensor,
                                         make_training_batch)
from dexpie_policy.flow import (ACTION_KEY, IMAGE_KEY_PREFIX, OBJECT_KEY, STATE_KEY,
                                FlowMatchingPolicy)
from dexpie_policy.flow import onnx_sampler
from dexpie_policy.linear_backends import LINEAR_BACKENDS
from dexpie_policy.normalization import NormalizationStats
from dexpie_policy.training import train_policy

__all__ = ["ChunkDataset", "EpisodeArrays", "PolicyRunner", "make_training_batch",
           "train_policy"]


class _PolicyDefault:
    def __repr__(self):
        return "<policy default>"


# optimality=1.0 for a policy trained with the indicator, None (no indicator) for plain BC.
POLICY_DEFAULT = _PolicyDefault()


class PolicyRunner:
    """A loaded policy plus its normalisation and action representation; numpy in and out.

    torch_threads: intra-op threads (process-wide). 1 by default: the model is small and at
    batch size 1 extra threads only add synchronisation, which on a busy 2-core machine turned
    ~5 ms chunks into 100+ ms ones. None leaves the process setting alone.

    linear_backend: how a chunk is sampled (`FlowMatchingPolicy.sample`): "torch", "numpy",
    "onnxruntime", or "auto" (the default): for a CPU model with torch_threads 1,
    "onnxruntime" where onnx and onnxruntime are installed (FiLM and the Euler loop as one
    ONNX graph on one thread, `flow.onnx_sampler`), else "numpy" where numpy's BLAS could be
    held to 1 thread (threadpoolctl, process-wide, like torch_threads; unheld, OpenBLAS
    splits a product over the cores; `flow.numpy_sampler`); "torch" otherwise. "torch" gives
    chunks bit-identical to the reference sampler, the other two within ~1e-6 of them. On
    the project's 2-core AMD EPYC a guided chunk took 2.4x less time with "numpy" and ~4x
    less with "onnxruntime" than with the reference sampler
    (benchmarks/policy_inference_latency.py). The choice is `self.linear_backend`.
    """

    def __init__(self, model: FlowMatchingPolicy, stats: NormalizationStats, spec: ActionSpec,
                 torch_threads: int | None = 1, hand: HandDescription | None = None,
                 linear_backend: str = "auto"):
        check_compatible(model.config, stats, spec)
        self.model, self.stats, self.spec = model.eval(), stats, spec
        self.hand = hand   # the checkpoint's hand description (None: written without one)
        self.config = model.config
        self.device = next(model.parameters()).device
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        self.linear_backend = resolve_linear_backend(linear_backend, self.device, torch_threads)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu",
                        torch_threads: int | None = 1,
                        linear_backend: str = "auto") -> "PolicyRunner":
        model, stats, spec = load_policy(directory, device=device)
        return cls(model, stats, spec, torch_threads=torch_threads,
                   hand=load_hand(directory, spec), linear_backend=linear_backend)

    @property
    def horizon(self) -> int:
        return self.config.horizon

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.spec.joint_names

    def predict_chunk(self, joint_positions: np.ndarray, object_state: np.ndarray | None = None,
                      images: dict[str, np.ndarray] | None = None,
                      prefix_targets: np.ndarray | None = None,
                      optimality: float | None | _PolicyDefault = POLICY_DEFAULT,
                      cfg_scale: float = 1.5,
                      generator: torch.Generator | None = None) -> np.ndarray:
        """One chunk of absolute joint targets (H, J).

        joint_positions (J,): the observation-time state, which is the anchor q_ref.
        object_state (K,) when the policy uses it; images camera -> (h, w, C) uint8 for each
        configured camera (unused object state and extra cameras are ignored).
        prefix_targets (d, J): absolute targets already committed for the first d steps of
        this chunk (d may be 0 or None); the returned chunk's first d rows
        are exactly these. optimality: the indicator s in [0, 1] to ask for (1.0 by default
        for an indicator-conditioned policy), or None for the unconditioned/null model;
        cfg_scale: guidance weight w (1 = no guidance; ignored without an indicator).
        """
        c = self.config
        anchor = self._vector("joint_positions", joint_positions, c.state_dim)
        observation = {STATE_KEY: self._tensor(self.stats.normalize(STATE_KEY, anchor))}
        # Inputs the policy was not trained on (object state, extra cameras) are ignored: the
        # same observation stream serves policies with different inputs. Missing ones raise.
        if c.object_dim:
            if object_state is None:
                raise ValueError(f"this policy needs object_state ({c.object_dim},)")
            obj = self._vector("object_state", object_state, c.object_dim)
            observation[OBJECT_KEY] = self._tensor(self.stats.normalize(OBJECT_KEY, obj))
        images = images or {}
        missing = [name for name in c.camera_names if name not in images]
        if missing:
            raise ValueError(f"this policy needs images from cameras {missing} "
                             f"(got {sorted(images)})")
        for name in c.camera_names:
            frame, expected = images[name], (*c.image_size, c.image_channels)
            if np.shape(frame) != expected:
                raise ValueError(f"image {name!r} must have shape {expected}, got "
                                 f"{np.shape(frame)}")
            observation[IMAGE_KEY_PREFIX + name] = image_tensor(frame)[None].to(self.device)

        prefix_relative, prefix = None, None
        if prefix_targets is not None and len(prefix_targets):
            prefix_targets = np.asarray(prefix_targets, dtype=np.float64)
            if prefix_targets.ndim != 2 or prefix_targets.shape[1] != c.state_dim or \
                    len(prefix_targets) > c.horizon or not np.all(np.isfinite(prefix_targets)):
                raise ValueError(f"prefix_targets must be finite (d <= {c.horizon}, "
                                 f"{c.state_dim}), got {prefix_targets.shape}")
            prefix_relative = reanchor(prefix_targets, anchor, self.spec)          # (d, D)
            prefix = self._tensor(self.stats.normalize(ACTION_KEY, prefix_relative))

        if optimality is POLICY_DEFAULT:
            optimality = 1.0 if c.optimality_conditioning else None
        normalized = self.model.sample(observation, prefix=prefix, optimality=optimality,
                                       cfg_scale=cfg_scale, generator=generator,
                                       linear_backend=self.linear_backend)
        actions = self.stats.unnormalize(ACTION_KEY, normalized[0].cpu().numpy().astype(np.float64))
        if prefix_relative is not None:
            # The model returned the prefix through float32; use the float64 original.
            actions[:len(prefix_relative)] = prefix_relative
        targets = to_absolute(actions, anchor, self.spec)                          # (H, J)
        if prefix_targets is not None and len(prefix_targets):
            # Committed targets are facts, not predictions: return them bit-exactly (the
            # round trip through a relative pose is exact only to ~1e-12).
            targets[:len(prefix_targets)] = prefix_targets
        return targets

    def warm_up(self, max_prefix_steps: int = 0, **predict_kwargs) -> None:
        """Compute now what the first chunks would otherwise compute on the way (the kept
        values, the ONNX Runtime session: ~0.1 s), for each prefix length 0..max_prefix_steps:
        the first chunk of a deployment then takes as long as every other. predict_kwargs:
        optimality and cfg_scale as the chunks will be asked for."""
        c = self.config
        joints = np.zeros(c.state_dim)
        images = {name: np.zeros((*c.image_size, c.image_channels), np.uint8)
                  for name in c.camera_names}
        for steps in range(min(max_prefix_steps, c.horizon) + 1):
            self.predict_chunk(joints, np.zeros(c.object_dim) if c.object_dim else None,
                               images, np.zeros((steps, c.state_dim)), **predict_kwargs)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float32, device=self.device)[None]

    @staticmethod
    def _vector(name: str, value, size: int) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if value.shape != (size,) or not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite with shape ({size},), got {value.shape}")
        return value


def resolve_linear_backend(requested: str, device: torch.device,
                           torch_threads: int | None) -> str:
    """The linear backend PolicyRunner uses for `requested` (see PolicyRunner)."""
    if requested not in (*LINEAR_BACKENDS, "auto"):
        raise ValueError(f"linear_backend must be 'auto' or one of {LINEAR_BACKENDS}, got "
                         f"{requested!r}")
    if requested != "torch" and requested != "auto" and device.type != "cpu":
        raise ValueError(f"linear_backend {requested!r} runs CPU models, this one is on {device}")
    if requested == "onnxruntime" and not onnx_sampler.available():
        raise ValueError("linear_backend 'onnxruntime' needs the onnx and onnxruntime packages "
                         "(pip install -r requirements/python.txt)")
    # numpy's BLAS follows torch_threads 1 whatever runs the chunk: numpy work elsewhere in
    # the process must not spread over the cores either.
    blas_held = torch_threads == 1 and limit_numpy_blas_threads(1)
    if requested != "auto":
        return requested
    if device.type != "cpu" or torch_threads != 1:
        return "torch"
    if onnx_sampler.available():
        return "onnxruntime"
    return "numpy" if blas_held else "torch"


def limit_numpy_blas_threads(threads: int) -> bool:
    """Hold numpy's BLAS to `threads` threads, process-wide (threadpoolctl); True when every
    BLAS library numpy loaded now runs that many, False when that cannot be done or told."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return False
    threadpool_limits(threads, user_api="blas")
    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    return bool(blas) and all(info["num_threads"] == threads for info in blas)
