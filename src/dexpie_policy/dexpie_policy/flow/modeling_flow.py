"""Chunked conditional flow-matching policy (rectified flow) with optimality conditioning,
classifier-free guidance and training-time real-time chunking.

Why flow matching rather than DDIM diffusion: the rectified-flow objective is a plain
regression of the straight-line velocity (a - noise), with no noise schedule to tune; its
near-straight probability paths give good chunks in ~10 Euler steps where DDIM typically
needs more for the same quality (inference runs on the robot's CPU, inside the async budget);
and a known prefix is inpainted by simply overwriting those positions with their clean value
and marking their flow time as 1 ("known") at every step, the same thing the model sees in
training.

Conventions: flow time t in [0, 1]; x_t = (1 - t) * noise + t * action; the network predicts
v = action - noise; sampling integrates dx/dt = v from t = 0 (noise) to t = 1 (actions).
Shapes: B batch, H horizon, D action_dim, J state_dim, K object_dim.
Observation batches are dicts: "observation.state" (B, J) and "observation.object" (B, K)
normalised; "observation.images.<camera>" (B, C, h, w) float in [0, 1].
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dexpie_policy.flow import numpy_sampler, onnx_sampler
from dexpie_policy.linear_backends import LINEAR_BACKENDS   # how `sample` runs a chunk
from dexpie_policy.flow.configuration_flow import (ACTION_KEY, OBJECT_KEY, STATE_KEY,
                                                   FlowPolicyConfig)

OPTIMALITY_KEY = "optimality"          # (B,) in [0, 1]; NaN = unknown -> null embedding
ACTION_WEIGHT_KEY = "action_weight"    # (B, H) per-step loss weight (episode-end padding)



def sinusoidal_embedding(values: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """(B,) values in [0, 1] -> (B, dim). Scaled by `scale` (1000: the usual 1..1e4 period
    range then resolves differences of ~1e-3 in t; 1: smooth in the value, few periods)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=values.dtype,
                                                         device=values.device) / half)
    angles = scale * values[:, None] * freqs[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class ImageEncoder(nn.Module):
    """Small CNN for one camera: (B, C, h, w) in [0, 1] -> (B, image_feature_dim)."""

    def __init__(self, channels: int, feature_dim: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 16, 5, stride=2, padding=2), nn.SiLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.SiLU(),
            # A fixed 4x4 grid keeps coarse "where" information that global pooling loses.
            nn.AdaptiveAvgPool2d((4, 4)))
        self.proj = nn.Linear(32 * 16, feature_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # Centre around 0: the conv biases then start near a useful operating point.
        return self.proj(self.conv(images * 2.0 - 1.0).flatten(1))


class FiLMResidualBlock(nn.Module):
    """h + MLP(LayerNorm(h) * (1 + scale) + shift); scale/shift come from the condition."""

    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, h: torch.Tensor, gain: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """gain = 1 + scale, precomputed once per chunk (it does not depend on the step)."""
        return h + self.mlp(torch.addcmul(shift, self.norm(h), gain))


class FlowMatchingPolicy(nn.Module):
    """Observation encoder + optimality/time embeddings + velocity MLP over the whole chunk.

    The velocity network sees the flattened noisy chunk (H * D) and each position's own flow
    time (H,), 1 for clean prefix positions: one MLP over the whole chunk is the fastest
    option on a CPU for H * D of a few hundred, and lets every step see every other.
    The observation/optimality condition modulates every block (FiLM) and is computed once
    per chunk; the flow time is added to the hidden state, and all steps' time features are
    computed in one batched call. This keeps each Euler step to ~2 * num_layers + 2 small
    matrix products, which is what bounds CPU latency at batch size 1.
    """

    def __init__(self, config: FlowPolicyConfig):
        super().__init__()
        self.config = config
        c, hidden = config, config.hidden_size
        self.image_encoders = nn.ModuleDict(
            {name: ImageEncoder(c.image_channels, c.image_feature_dim) for name in c.camera_names})
        obs_in = c.state_dim + c.object_dim + len(c.camera_names) * c.image_feature_dim
        self.obs_encoder = nn.Sequential(nn.Linear(obs_in, hidden), nn.SiLU(),
                                         nn.Linear(hidden, hidden))
        self.time_mlp = nn.Sequential(nn.Linear(c.time_embedding_dim, hidden), nn.SiLU(),
                                      nn.Linear(hidden, hidden))
        if c.optimality_conditioning:
            # Learned "no indicator" condition: used when s is unknown, for p_drop of the
            # training samples, and as the unconditional branch of classifier-free guidance.
            self.optimality_null = nn.Parameter(torch.randn(c.optimality_embedding_dim) * 0.5)
            self.optimality_mlp = nn.Sequential(nn.Linear(c.optimality_embedding_dim, hidden),
                                                nn.SiLU(), nn.Linear(hidden, hidden))
        chunk = c.horizon * c.action_dim
        self.input_proj = nn.Linear(chunk + c.horizon, hidden)
        self.film = nn.Linear(hidden, 2 * hidden * c.num_layers)
        self.blocks = nn.ModuleList([FiLMResidualBlock(hidden) for _ in range(c.num_layers)])
        self.output_norm = nn.LayerNorm(hidden)
        self.output_proj = nn.Linear(hidden, chunk)

    # -- conditioning -------------------------------------------------------------------------
    def encode_observation(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Observation dict (see module docstring) -> (B, hidden)."""
        c = self.config
        parts = [checked_feature(observation, STATE_KEY, (c.state_dim,))]
        if c.object_dim:
            parts.append(checked_feature(observation, OBJECT_KEY, (c.object_dim,)))
        for name, key in zip(c.camera_names, c.image_keys()):
            images = checked_feature(observation, key, (c.image_channels, *c.image_size))
            parts.append(self.image_encoders[name](images))
        return self.obs_encoder(torch.cat(parts, dim=-1))

    def optimality_condition(self, optimality: torch.Tensor | None, batch_size: int,
                             drop: torch.Tensor | None = None) -> torch.Tensor | None:
        """optimality (B,) in [0, 1], NaN = unknown, or None (all unknown); drop (B,) bool
        forces the null embedding -> (B, hidden), or None without optimality conditioning."""
        if not self.config.optimality_conditioning:
            return None
        null = self.optimality_null[None].expand(batch_size, -1)
        if optimality is None:
            embedding = null
        else:
            unknown = torch.isnan(optimality)
            if drop is not None:
                unknown = unknown | drop
            values = torch.where(unknown, torch.zeros_like(optimality), optimality)
            embedding = sinusoidal_embedding(values, self.config.optimality_embedding_dim,
                                             self.config.optimality_embedding_scale)
            embedding = torch.where(unknown[:, None], null, embedding)
        return self.optimality_mlp(embedding)

    def film_parameters(self, observation_condition: torch.Tensor,
                        optimality_condition: torch.Tensor | None) -> torch.Tensor:
        """Conditions (B, hidden) -> per-block (gain = 1 + scale, shift):
        (B, num_layers, 2, hidden). Computed once per chunk: it does not depend on the step."""
        condition = observation_condition
        if optimality_condition is not None:
            condition = condition + optimality_condition
        film = self.film(F.silu(condition))
        film = film.view(film.shape[0], self.config.num_layers, 2, self.config.hidden_size)
        return film + torch.tensor([1.0, 0.0], dtype=film.dtype, device=film.device)[:, None]

    def time_features(self, flow_time: torch.Tensor) -> torch.Tensor:
        """(N,) flow times -> (N, hidden)."""
        return self.time_mlp(sinusoidal_embedding(flow_time, self.config.time_embedding_dim))

    def velocity(self, noisy_actions: torch.Tensor, step_time: torch.Tensor,
                 time_features: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        """noisy_actions (B, H, D), step_time (B, H) per-position flow time (1 = clean),
        time_features (B, hidden) of the generated positions' flow time, film from
        `film_parameters` -> predicted velocity (B, H, D)."""
        h = self.input_proj(torch.cat([noisy_actions.flatten(1), step_time], dim=-1))
        h = h + time_features
        for block, block_film in zip(self.blocks, film.unbind(1)):
            gain, shift = block_film.unbind(1)
            h = block(h, gain, shift)
        return self.output_proj(self.output_norm(h)).view_as(noisy_actions)

    # -- training -----------------------------------------------------------------------------
    def compute_loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None,
                     delay_steps: torch.Tensor | None = None) -> torch.Tensor:
        """Flow-matching loss with training-time real-time chunking.

        batch: observation keys, "action" (B, H, D) normalised, optional "action_weight"
        (B, H) and "optimality" (B,). Per sample, d ~ U{0..max_delay_steps} (or the given
        `delay_steps` (B,)) leading actions are given clean with flow time 1 and carry no
        loss: at inference they are the committed prefix, not something to predict.
        """
        c = self.config
        actions = checked_feature(batch, ACTION_KEY, (c.horizon, c.action_dim))
        batch_size, device = actions.shape[0], actions.device
        if delay_steps is None:
            delay_steps = torch.randint(0, c.max_delay_steps + 1, (batch_size,),
                                        generator=generator, device=device)
        known = torch.arange(c.horizon, device=device)[None] < delay_steps[:, None]   # (B, H)
        noise = torch.randn(actions.shape, generator=generator, device=device,
                            dtype=actions.dtype)
        flow_time = torch.rand((batch_size,), generator=generator, device=device,
                               dtype=actions.dtype)
        noisy = (1.0 - flow_time[:, None, None]) * noise + flow_time[:, None, None] * actions
        noisy = torch.where(known[..., None], actions, noisy)
        step_time = torch.where(known, torch.ones_like(noisy[..., 0]), flow_time[:, None])

        drop = None
        if c.optimality_conditioning:
            drop = torch.rand((batch_size,), generator=generator, device=device) < \
                c.optimality_dropout
        optimality = batch.get(OPTIMALITY_KEY)
        film = self.film_parameters(self.encode_observation(batch),
                                    self.optimality_condition(optimality, batch_size, drop))
        predicted = self.velocity(noisy, step_time, self.time_features(flow_time), film)
        error = (predicted - (actions - noise)).square().mean(dim=-1)                   # (B, H)
        weight = (~known).to(error.dtype)
        if ACTION_WEIGHT_KEY in batch:
            weight = weight * batch[ACTION_WEIGHT_KEY]
        return (error * weight).sum() / weight.sum().clamp_min(1e-8)

    # -- inference ----------------------------------------------------------------------------
    @torch.inference_mode()
    def sample(self, observation: dict[str, torch.Tensor], prefix: torch.Tensor | None = None,
               optimality: float | torch.Tensor | None = None, cfg_scale: float = 1.0,
               generator: torch.Generator | None = None,
               noise: torch.Tensor | None = None,
               linear_backend: str = "torch") -> torch.Tensor:
        """Generate a normalised chunk (B, H, D) by Euler integration from noise.

        prefix: (B, d, D) normalised clean actions (the committed prefix, d <= H), clamped at
        every step and returned unchanged. optimality: None -> null condition; a float or
        (B,) tensor -> conditioned, with classifier-free guidance
        v = v_uncond + cfg_scale * (v_cond - v_uncond) when cfg_scale != 1.
        linear_backend: see LINEAR_BACKENDS ("numpy" needs a CPU model).

        With linear_backend "torch" the arithmetic is that of `reference.reference_sample` (a
        loop over `velocity`), op for op and shape for shape, so the chunks are the same bit
        for bit; what differs is the bookkeeping around it (the step grid's time features and
        the optimality conditions are kept between calls, recomputed when a parameter they
        depend on changes; the Euler loop calls the layers' functions directly on weights
        gathered once, instead of ~20 nn.Module calls and ~15 view/concatenate ops per
        step). With "numpy" or "onnxruntime" and one observation, FiLM and the Euler loop
        run in numpy (`flow.numpy_sampler`) or as one ONNX Runtime graph
        (`flow.onnx_sampler`): the same arithmetic summed in another order, within ~1e-6 of
        the reference's chunks (test_inference_equivalence holds it to 1e-5).
        benchmarks/policy_inference_profile.py measures all three.
        """
        c = self.config
        if linear_backend not in LINEAR_BACKENDS:
            raise ValueError(f"linear_backend must be one of {LINEAR_BACKENDS}, got "
                             f"{linear_backend!r}")
        condition = self.encode_observation(observation)
        batch_size, device, dtype = condition.shape[0], condition.device, condition.dtype
        if linear_backend != "torch" and (device.type != "cpu" or dtype not in (torch.float32,
                                                                                 torch.float64)):
            raise ValueError(f"linear_backend {linear_backend!r} runs float32/float64 CPU "
                             f"models, this one is {dtype} on {device}")
        if optimality is not None and not c.optimality_conditioning:
            raise ValueError("this policy was trained without optimality conditioning; pass "
                             "optimality=None")
        if noise is None:
            noise = torch.randn((batch_size, c.horizon, c.action_dim), generator=generator,
                                device=device, dtype=dtype)
        elif tuple(noise.shape) != (batch_size, c.horizon, c.action_dim):
            raise ValueError(f"noise must have shape {(batch_size, c.horizon, c.action_dim)}, "
                             f"got {tuple(noise.shape)}")
        delay = 0 if prefix is None else prefix.shape[-2]
        if prefix is not None and (prefix.ndim != 3 or prefix.shape[0] != batch_size
                                   or prefix.shape[2] != c.action_dim or delay > c.horizon):
            raise ValueError(f"prefix must have shape ({batch_size}, d <= {c.horizon}, "
                             f"{c.action_dim}), got {tuple(prefix.shape)}")
        if isinstance(optimality, (int, float)):
            if optimality < 0 or optimality > 1:   # NaN passes: unknown -> null embedding
                raise ValueError(f"optimality must be in [0, 1] with shape ({batch_size},)")
        elif optimality is not None and (optimality.shape != (batch_size,) or torch.any(
                (optimality < 0) | (optimality > 1))):
            raise ValueError(f"optimality must be in [0, 1] with shape ({batch_size},)")
        guided = optimality is not None and cfg_scale != 1.0
        cache = self._inference_cache(dtype, device)   # checked once per chunk: ~25 us
        if linear_backend != "torch" and batch_size == 1:
            return self._sample_one(cache, linear_backend, condition, optimality, guided, noise,
                                    prefix, cfg_scale)
        film = self._sample_film(cache, condition, optimality, guided)
        time_features, step_times = self._step_grid(cache, delay, dtype, device)
        return self._integrate(noise, prefix, film, time_features, step_times,
                               cfg_scale if guided else None)

    def _sample_film(self, cache: dict, condition: torch.Tensor,
                     optimality: float | torch.Tensor | None, guided: bool) -> torch.Tensor:
        """FiLM parameters of `sample`: (B, ...) or, guided, (2B, ...) = [conditional;
        unconditional (null)]."""
        batch_size, dtype, device = condition.shape[0], condition.dtype, condition.device
        film = self.film_parameters(condition, self._cached_optimality_condition(
            cache, optimality, batch_size, dtype, device))
        if not guided:
            return film
        # One branch after the other, as the reference sampler does (bit-identical).
        return torch.cat([film, self.film_parameters(condition, self._cached_optimality_condition(
            cache, None, batch_size, dtype, device))])

    def _integrate(self, noise: torch.Tensor, prefix: torch.Tensor | None, film: torch.Tensor,
                   time_features: torch.Tensor, step_times: torch.Tensor,
                   cfg_scale: float | None) -> torch.Tensor:
        """The Euler loop of `sample` (cfg_scale None: unguided), with `velocity` written
        out on the layers' weights. Every tensor op is the one `velocity` and
        `reference_sample` run, on the same shapes and values: a (rows, H * D + H) input
        holding [flattened chunk (both branches when guided), per-position flow time], one
        linear layer, + time features, the FiLM blocks, the output layer, the guidance mix
        and x + dt * v. Only views, in-place updates and copies into that preallocated input
        replace the concatenations, expands and fresh tensors of the reference loop."""
        c, hidden = self.config, self.config.hidden_size
        batch_size, horizon, action_dim = noise.shape
        chunk, delay = horizon * action_dim, 0 if prefix is None else prefix.shape[1]
        rows = 2 * batch_size if cfg_scale is not None else batch_size
        dt = 1.0 / c.num_inference_steps
        inputs = noise.new_empty((rows, chunk + horizon))
        x = inputs[:batch_size, :chunk].view(batch_size, horizon, action_dim)
        x.copy_(noise)
        blocks = [(gain, shift, block.norm.eps, block.mlp[0].weight, block.mlp[0].bias,
                   block.mlp[2].weight, block.mlp[2].bias)
                  for block, (gain, shift) in zip(self.blocks,
                                                  (f.unbind(1) for f in film.unbind(1)))]
        input_proj, output_proj = self.input_proj, self.output_proj
        output_norm = self.output_norm
        for step in range(c.num_inference_steps):
            if delay:
                x[:, :delay] = prefix
            if cfg_scale is not None:
                inputs[batch_size:, :chunk] = inputs[:batch_size, :chunk]
            inputs[:, chunk:] = step_times[step]
            h = F.linear(inputs, input_proj.weight, input_proj.bias)
            h += time_features[step]
            for gain, shift, eps, w1, b1, w2, b2 in blocks:
                a = torch.addcmul(shift, F.layer_norm(h, (hidden,), None, None, eps), gain)
                h += F.linear(F.silu(F.linear(a, w1, b1), inplace=True), w2, b2)
            v = F.linear(F.layer_norm(h, (hidden,), output_norm.weight, output_norm.bias,
                                      output_norm.eps),
                         output_proj.weight, output_proj.bias).view(rows, horizon, action_dim)
            if cfg_scale is not None:
                v_cond, v_uncond = v[:batch_size], v[batch_size:]
                v = v_uncond + cfg_scale * (v_cond - v_uncond)
            x += dt * v
        if delay:
            x[:, :delay] = prefix
        return x.clone(memory_format=torch.contiguous_format)

    def _sample_one(self, cache: dict, linear_backend: str, condition: torch.Tensor,
                    optimality: float | torch.Tensor | None, guided: bool, noise: torch.Tensor,
                    prefix: torch.Tensor | None, cfg_scale: float) -> torch.Tensor:
        """`sample` for one observation with linear_backend "numpy" or "onnxruntime"
        -> (1, H, D)."""
        dtype, device = condition.dtype, condition.device
        delay = 0 if prefix is None else prefix.shape[1]
        branches = [optimality, None] if guided else [optimality]
        conditions = torch.cat([condition if extra is None else condition + extra for extra in
                                (self._cached_optimality_condition(cache, branch, 1, dtype, device)
                                 for branch in branches)]).numpy()
        if linear_backend == "onnxruntime":
            sampler, step_bias, generated = self._onnx_sampler(cache, delay, guided, dtype, device)
            chunk = noise.reshape(1, -1).numpy().copy()
            if delay:
                chunk[:, :delay * self.config.action_dim] = prefix.reshape(1, -1).numpy()
            chunk = torch.from_numpy(sampler(conditions, chunk, step_bias, generated,
                                             cfg_scale if guided else None)).view_as(noise)
            if delay:   # exactly the prefix, whatever the velocity (0 * inf is not 0)
                chunk[:, :delay] = prefix
            return chunk
        layers, grid = self._numpy_weights(cache, delay, dtype, device)
        gains, shifts = numpy_sampler.film_rows(layers, conditions, self.config.num_layers)
        chunk = numpy_sampler.integrate(layers, grid, noise[0].numpy(),
                                        None if prefix is None else prefix[0].numpy(),
                                        gains, shifts, cfg_scale if guided else None)
        return torch.from_numpy(chunk)[None]

    # -- values kept between sample calls -----------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_sample_cache", None)   # derived values: not pickled, not deep-copied
        return state

    def _inference_cache(self, dtype: torch.dtype, device: torch.device) -> dict:
        """The cache of what `sample` computes from parameters alone, emptied when any
        parameter after the observation encoder changed (an optimizer step or a loaded state
        dict bumps its version; moving or replacing one changes the storage: the cache keeps
        the old storage alive, so a new one cannot take its address)."""
        layers = [self.time_mlp[0], self.time_mlp[2], self.input_proj, self.film,
                  *(layer for block in self.blocks for layer in (block.mlp[0], block.mlp[2])),
                  self.output_norm, self.output_proj]
        params = []
        if self.config.optimality_conditioning:
            layers += [self.optimality_mlp[0], self.optimality_mlp[2]]
            params.append(self.optimality_null)
        params += [p for layer in layers for p in layer._parameters.values()]
        state = (dtype, device, *((p.data_ptr(), p._version) for p in params))
        cache = self.__dict__.get("_sample_cache")
        if cache is None or cache["state"] != state or len(cache) > 64:
            cache = {"state": state, "pinned": [p.detach() for p in params]}
            self.__dict__["_sample_cache"] = cache
        return cache

    def _step_grid(self, cache: dict, delay: int, dtype: torch.dtype, device: torch.device):
        """Time features (N, hidden) of the fixed step grid and per-position flow times
        (N, H), 1 at the `delay` prefix positions; computed once per (delay, dtype, device)."""
        c = self.config
        key = ("grid", delay)
        if key not in cache:
            dt = 1.0 / c.num_inference_steps
            times = torch.arange(c.num_inference_steps, device=device, dtype=dtype) * dt
            known = (torch.arange(c.horizon, device=device) < delay)[None]          # (1, H)
            cache[key] = (self.time_features(times),                                 # (N, hidden)
                          torch.where(known, torch.ones((), dtype=dtype, device=device),
                                      times[:, None]))                               # (N, H)
        return cache[key]

    def _numpy_weights(self, cache: dict, delay: int, dtype: torch.dtype, device: torch.device
                       ) -> tuple[numpy_sampler.LayerWeights, numpy_sampler.StepGrid]:
        """The numpy sampler's weights and its step grid for a `delay`-action prefix; kept
        with the other values `sample` computes from parameters alone."""
        c = self.config
        if "numpy layers" not in cache:
            blocks = tuple((*_numpy_linear(block.mlp[0]), *_numpy_linear(block.mlp[2]),
                            block.norm.eps) for block in self.blocks)
            cache["numpy layers"] = numpy_sampler.LayerWeights(
                film_weight=self.film.weight.detach().numpy(),
                film_bias=self.film.bias.detach().numpy(), blocks=blocks,
                norm_eps=self.output_norm.eps)
        key = ("numpy grid", delay)
        if key not in cache:
            time_features, step_times = self._step_grid(cache, delay, dtype, device)
            cache[key] = numpy_sampler.step_grid(
                delay, c.action_dim, c.num_inference_steps, step_times.numpy(),
                time_features.numpy(), *_numpy_parameters(self.input_proj),
                *_numpy_parameters(self.output_norm), *_numpy_parameters(self.output_proj))
        return cache["numpy layers"], cache[key]

    def _onnx_sampler(self, cache: dict, delay: int, guided: bool, dtype: torch.dtype,
                      device: torch.device):
        """The ONNX Runtime session for `guided` (one per parameter state: it does not
        depend on the prefix length), the step bias for a `delay`-action prefix (N, hidden)
        and the generated positions' mask (1, H * D)."""
        c = self.config
        key = ("onnx session", guided)
        if key not in cache:
            blocks = tuple((*_numpy_parameters(block.mlp[0]), *_numpy_parameters(block.mlp[2]),
                            block.norm.eps) for block in self.blocks)
            film_weight, film_bias = _numpy_parameters(self.film)
            norm_weight, norm_bias = _numpy_parameters(self.output_norm)
            output_weight, output_bias = _numpy_parameters(self.output_proj)
            cache[key] = onnx_sampler.OnnxChunkSampler(
                film_weight=film_weight, film_bias=film_bias, blocks=blocks,
                norm_eps=self.output_norm.eps, norm_weight=norm_weight, norm_bias=norm_bias,
                input_weight=self.input_proj.weight.detach().numpy(),
                output_weight=output_weight, output_bias=output_bias,
                num_steps=c.num_inference_steps, guided=guided)
        grid_key = ("onnx grid", delay)
        if grid_key not in cache:
            time_features, step_times = self._step_grid(cache, delay, dtype, device)
            generated = np.ones((1, c.horizon * c.action_dim), dtype=time_features.numpy().dtype)
            generated[:, :delay * c.action_dim] = 0.0
            cache[grid_key] = (numpy_sampler.step_bias(
                step_times.numpy(), time_features.numpy(),
                *_numpy_parameters(self.input_proj)), generated)
        return (cache[key], *cache[grid_key])

    def _cached_optimality_condition(self, cache: dict, optimality: float | torch.Tensor | None,
                                     batch_size: int, dtype: torch.dtype,
                                     device: torch.device) -> torch.Tensor | None:
        """`optimality_condition` for a float, a (B,) tensor or None (the null condition),
        remembered per batch size and value."""
        if not self.config.optimality_conditioning:
            return None
        if isinstance(optimality, torch.Tensor):   # NaN != NaN: key it as "nan"
            values = (optimality.dtype, optimality.device,
                      *("nan" if v != v else v for v in optimality.tolist()))
        else:
            values = None if optimality is None else float(optimality)
        key = ("optimality", batch_size, "nan" if values != values else values)
        if key not in cache:
            if isinstance(values, float):
                optimality = torch.full((batch_size,), values, device=device, dtype=dtype)
            cache[key] = self.optimality_condition(optimality, batch_size)
        return cache[key]


def _numpy_linear(layer: nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    """(in, out) view of the weight and the bias, sharing the parameters' memory."""
    return layer.weight.detach().numpy().T, layer.bias.detach().numpy()


def _numpy_parameters(layer: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) as numpy arrays in torch's layout, sharing the parameters' memory."""
    return layer.weight.detach().numpy(), layer.bias.detach().numpy()


def checked_feature(batch: dict[str, torch.Tensor], key: str, shape: tuple[int, ...],
                    container: str = "batch") -> torch.Tensor:
    """batch[key], checked to be (B, *shape); errors name the key (and `container`)."""
    if key not in batch:
        raise KeyError(f"{container} is missing {key!r} (has {sorted(batch)})")
    value = batch[key]
    if value.ndim != len(shape) + 1 or tuple(value.shape[1:]) != tuple(shape):
        raise ValueError(f"{key!r} must have shape (B, {', '.join(map(str, shape))}), got "
                         f"{tuple(value.shape)}")
    return value
