"""The chunk sampler as it was before the inference rewrite: a plain loop over
`FlowMatchingPolicy.velocity`, kept as the reference `FlowMatchingPolicy.sample` is checked
against (test_flow, test_inference_fixture) and measured against
(benchmarks/policy_inference_latency.py). It recomputes the time and optimality embeddings on
every call and goes through the nn.Module calls of every layer at every Euler step;
`FlowMatchingPolicy.sample` does the same arithmetic op for op, so the two give the same
chunks bit for bit. Not for deployment: use `FlowMatchingPolicy.sample`.
"""
from __future__ import annotations

import torch

from dexpie_policy.flow.modeling_flow import FlowMatchingPolicy


@torch.inference_mode()
def reference_sample(model: FlowMatchingPolicy, observation: dict[str, torch.Tensor],
                     prefix: torch.Tensor | None = None,
                     optimality: float | torch.Tensor | None = None, cfg_scale: float = 1.0,
                     generator: torch.Generator | None = None,
                     noise: torch.Tensor | None = None) -> torch.Tensor:
    """`model.sample(...)` as it was: a normalised chunk (B, H, D) by Euler integration.

    prefix: (B, d, D) normalised clean actions (the committed prefix, d <= H), clamped at
    every step and returned unchanged. optimality: None -> null condition; a float or
    (B,) tensor -> conditioned, with classifier-free guidance
    v = v_uncond + cfg_scale * (v_cond - v_uncond) when cfg_scale != 1.
    """
    c = model.config
    condition = model.encode_observation(observation)
    batch_size, device = condition.shape[0], condition.device
    if optimality is not None and not c.optimality_conditioning:
        raise ValueError("this policy was trained without optimality conditioning; pass "
                         "optimality=None")
    if noise is None:
        noise = torch.randn((batch_size, c.horizon, c.action_dim), generator=generator,
                            device=device, dtype=condition.dtype)
    elif tuple(noise.shape) != (batch_size, c.horizon, c.action_dim):
        raise ValueError(f"noise must have shape {(batch_size, c.horizon, c.action_dim)}, "
                         f"got {tuple(noise.shape)}")
    delay = 0 if prefix is None else prefix.shape[-2]
    if prefix is not None and (prefix.ndim != 3 or prefix.shape[0] != batch_size
                               or prefix.shape[2] != c.action_dim or delay > c.horizon):
        raise ValueError(f"prefix must have shape ({batch_size}, d <= {c.horizon}, "
                         f"{c.action_dim}), got {tuple(prefix.shape)}")
    if isinstance(optimality, (int, float)):
        optimality = torch.full((batch_size,), float(optimality), device=device,
                                dtype=condition.dtype)
    if optimality is not None and (optimality.shape != (batch_size,) or torch.any(
            (optimality < 0) | (optimality > 1))):
        raise ValueError(f"optimality must be in [0, 1] with shape ({batch_size},)")
    guided = optimality is not None and cfg_scale != 1.0
    film = model.film_parameters(condition, model.optimality_condition(optimality, batch_size))
    if guided:
        # One batched pass for both branches: [conditional; unconditional (null)].
        film = torch.cat([film, model.film_parameters(
            condition, model.optimality_condition(None, batch_size))])
    branches = 2 if guided else 1

    dt = 1.0 / c.num_inference_steps
    times = torch.arange(c.num_inference_steps, device=device, dtype=condition.dtype) * dt
    all_time_features = model.time_features(times)                       # (N, hidden)
    known = (torch.arange(c.horizon, device=device) < delay)[None]              # (1, H)
    all_step_times = torch.where(known, torch.ones((), dtype=times.dtype, device=device),
                                 times[:, None])                                # (N, H)
    rows = batch_size * branches
    x = noise.clone()
    for step in range(c.num_inference_steps):
        if delay:
            x[:, :delay] = prefix
        step_time = all_step_times[step].expand(rows, -1)
        time_features = all_time_features[step].expand(rows, -1)
        if guided:
            v_cond, v_uncond = model.velocity(torch.cat([x, x]), step_time, time_features,
                                             film).chunk(2)
            v = v_uncond + cfg_scale * (v_cond - v_uncond)
        else:
            v = model.velocity(x, step_time, time_features, film)
        x = x + dt * v
    if delay:
        x[:, :delay] = prefix
    return x
