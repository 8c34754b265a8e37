"""Flow-matching policy: config validation, prefix masking (training-time RTC), prefix
clamping, classifier-free guidance identities and the null condition."""
import dataclasses

import pytest
import torch

from dexpie_policy.flow import ConfigError, FlowMatchingPolicy, FlowPolicyConfig

SMALL = dict(action_dim=5, state_dim=4, object_dim=3, horizon=8, hidden_size=32, num_layers=2,
             time_embedding_dim=16, optimality_embedding_dim=16, num_inference_steps=6,
             max_delay_steps=3)


def _model(seed=0, **overrides):
    torch.manual_seed(seed)
    return FlowMatchingPolicy(FlowPolicyConfig(**{**SMALL, **overrides})).eval()


def _obs(batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {"observation.state": torch.randn(batch, 4, generator=g),
            "observation.object": torch.randn(batch, 3, generator=g)}


def _batch(batch=6, seed=2):
    g = torch.Generator().manual_seed(seed)
    data = _obs(batch, seed)
    data["action"] = torch.randn(batch, 8, 5, generator=g)
    data["optimality"] = torch.rand(batch, generator=g)
    return data


def _reference_sample(model, obs, noise, optimality, prefix=None):
    """Plain Euler integration of one (non-guided) velocity field, written independently but
    with the same floating-point operations as `sample`, so results can be compared exactly."""
    c = model.config
    with torch.no_grad():
        film = model.film_parameters(model.encode_observation(obs),
                                     model.optimality_condition(optimality, noise.shape[0]))
        dt = 1.0 / c.num_inference_steps
        times = torch.arange(c.num_inference_steps, dtype=torch.float32) * dt
        time_features = model.time_features(times)
        x, d = noise.clone(), (0 if prefix is None else prefix.shape[1])
        for step in range(c.num_inference_steps):
            if d:
                x[:, :d] = prefix
            step_time = times[step].repeat(noise.shape[0], c.horizon)
            step_time[:, :d] = 1.0
            features = time_features[step].repeat(noise.shape[0], 1)
            x = x + dt * model.velocity(x, step_time, features, film)
        if d:
            x[:, :d] = prefix
    return x


@pytest.mark.parametrize("field,value", [("horizon", 0), ("action_dim", -1), ("hidden_size", 2.5),
                                         ("optimality_dropout", 1.0), ("max_delay_steps", 8),
                                         ("time_embedding_dim", 15), ("image_size", (4, 4)),
                                         ("camera_names", ("a", "a")),
                                         ("optimality_conditioning", "yes"),
                                         ("optimality_embedding_scale", 0.0)])
def test_config_rejects_bad_values_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        FlowPolicyConfig(**{**SMALL, field: value})


def test_config_dict_round_trip_and_strict_keys():
    config = FlowPolicyConfig(**SMALL, camera_names=("front",))
    assert FlowPolicyConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown config keys: \\['bogus'\\]"):
        FlowPolicyConfig.from_dict({**config.to_dict(), "bogus": 1})
    partial = config.to_dict()
    del partial["hidden_size"]
    with pytest.raises(ConfigError, match="missing config keys: \\['hidden_size'\\]"):
        FlowPolicyConfig.from_dict(partial)
    assert FlowPolicyConfig.from_dict(partial, require_all=False).hidden_size == 256
    assert FlowPolicyConfig(action_dim=3, state_dim=3).horizon == 16
    assert dataclasses.is_dataclass(config)


def test_config_stored_before_the_embedding_scale_existed_keeps_its_scale():
    """A checkpoint written before `optimality_embedding_scale` existed was trained at 1000;
    it loads at 1000 even though the key is missing, and a stored value wins."""
    stored = FlowPolicyConfig(**SMALL).to_dict()
    del stored["optimality_embedding_scale"]
    assert FlowPolicyConfig.from_dict(stored).optimality_embedding_scale == 1000.0
    smooth = FlowPolicyConfig(**SMALL, optimality_embedding_scale=1.0).to_dict()
    assert FlowPolicyConfig.from_dict(smooth).optimality_embedding_scale == 1.0


@pytest.mark.parametrize("scale, smooth", [(1.0, True), (1000.0, False)])
def test_optimality_embedding_scale_sets_how_smooth_the_condition_is_in_s(scale, smooth):
    """At scale 1 nearby scores get nearby conditions (the indicator is an ordered axis); at
    1000 a difference of 0.01 in s already moves the condition as far as 0 vs 1 does."""
    model = _model(optimality_embedding_scale=scale)
    with torch.no_grad():
        s = model.optimality_condition(torch.tensor([1.0, 0.99, 0.0]), 3)
    near, far = (s[0] - s[1]).norm().item(), (s[0] - s[2]).norm().item()
    assert (near < 0.05 * far) == smooth, (near, far)


def test_loss_ignores_predictions_at_prefix_positions():
    model = _model().train()
    batch = _batch()
    delay = torch.tensor([0, 1, 2, 3, 3, 2])
    base = model.compute_loss(batch, torch.Generator().manual_seed(5), delay_steps=delay)

    def corrupt_prefix(_module, args, output):
        noisy = args[0]
        known = torch.arange(noisy.shape[1])[None] < delay[:, None]
        return torch.where(known[..., None], output + 1e3, output)

    original_velocity = model.velocity
    model.velocity = lambda noisy, *rest: corrupt_prefix(None, (noisy,),
                                                         original_velocity(noisy, *rest))
    corrupted = model.compute_loss(batch, torch.Generator().manual_seed(5), delay_steps=delay)
    assert torch.equal(base, corrupted)
    # Sanity: corrupting a generated position does change the loss.
    model.velocity = lambda noisy, *rest: original_velocity(noisy, *rest) + 1.0
    assert model.compute_loss(batch, torch.Generator().manual_seed(5), delay_steps=delay) > base


def test_loss_gradient_is_zero_for_prefix_predictions_and_padding_weight():
    model = _model().train()
    batch = _batch()
    batch["action_weight"] = torch.ones(6, 8)
    batch["action_weight"][:, -2:] = 0.0  # padded steps at the episode end
    delay = torch.tensor([2, 0, 1, 3, 0, 2])
    captured = {}
    original_velocity = model.velocity

    def capture(*args):
        out = original_velocity(*args)
        out.retain_grad()
        captured["v"] = out
        return out
    model.velocity = capture
    model.compute_loss(batch, torch.Generator().manual_seed(0), delay_steps=delay).backward()
    grad = captured["v"].grad.abs().sum(-1)                      # (B, H)
    known = torch.arange(8)[None] < delay[:, None]
    assert torch.all(grad[known] == 0) and torch.all(grad[:, -2:] == 0)
    assert torch.all(grad[~known][:, None].sum() > 0)


def test_prefix_is_reproduced_exactly_and_conditions_the_rest():
    model = _model()
    obs = _obs()
    prefix = torch.randn(2, 3, 5)
    noise = torch.randn(2, 8, 5, generator=torch.Generator().manual_seed(3))
    out = model.sample(obs, prefix=prefix, optimality=1.0, cfg_scale=1.5, noise=noise)
    assert out.shape == (2, 8, 5) and torch.equal(out[:, :3], prefix)
    other = model.sample(obs, prefix=prefix + 1.0, optimality=1.0, cfg_scale=1.5, noise=noise)
    assert not torch.allclose(out[:, 3:], other[:, 3:])
    reference = _reference_sample(model, obs, noise, torch.ones(2), prefix)
    plain = model.sample(obs, prefix=prefix, optimality=1.0, noise=noise)
    torch.testing.assert_close(plain, reference, rtol=0, atol=1e-6)


def test_cfg_scale_one_equals_conditional_model_exactly():
    model = _model()
    obs, noise = _obs(), torch.randn(2, 8, 5, generator=torch.Generator().manual_seed(4))
    optimality = torch.tensor([1.0, 0.4])
    guided_one = model.sample(obs, optimality=optimality, cfg_scale=1.0, noise=noise)
    assert torch.equal(guided_one, _reference_sample(model, obs, noise, optimality))
    # Same noise through the generator gives the same chunk.
    a = model.sample(obs, optimality=1.0, generator=torch.Generator().manual_seed(9))
    b = model.sample(obs, optimality=1.0, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
    # w = 0 is the unconditional (null) model; w = 2 differs from both.
    unconditional = model.sample(obs, optimality=optimality, cfg_scale=0.0, noise=noise)
    torch.testing.assert_close(unconditional, _reference_sample(model, obs, noise, None),
                               rtol=0, atol=1e-5)
    guided_two = model.sample(obs, optimality=optimality, cfg_scale=2.0, noise=noise)
    assert not torch.allclose(guided_two, guided_one, atol=1e-4)


def test_null_condition_used_when_optimality_is_none():
    model = _model()
    obs, noise = _obs(), torch.randn(2, 8, 5, generator=torch.Generator().manual_seed(6))
    no_indicator = model.sample(obs, optimality=None, cfg_scale=1.5, noise=noise)
    assert torch.equal(no_indicator, _reference_sample(model, obs, noise, None))
    nan_indicator = model.sample(obs, optimality=torch.full((2,), float("nan")), noise=noise)
    assert torch.equal(nan_indicator, no_indicator)
    conditioned = model.sample(obs, optimality=1.0, noise=noise)
    with torch.no_grad():
        model.optimality_null.add_(1.0)
    assert not torch.equal(model.sample(obs, optimality=None, noise=noise), no_indicator)
    assert torch.equal(model.sample(obs, optimality=1.0, noise=noise), conditioned)


def test_unconditioned_policy_rejects_optimality_and_inputs_are_checked():
    model = _model(optimality_conditioning=False)
    assert not hasattr(model, "optimality_null")
    with pytest.raises(ValueError, match="without optimality conditioning"):
        model.sample(_obs(), optimality=1.0)
    assert model.sample(_obs(), cfg_scale=1.5).shape == (2, 8, 5)
    with pytest.raises(KeyError, match="observation.object"):
        model.sample({"observation.state": torch.zeros(1, 4)})
    with pytest.raises(ValueError, match="prefix"):
        model.sample(_obs(), prefix=torch.zeros(2, 9, 5))
    with pytest.raises(ValueError, match="'observation.state' must have shape"):
        model.sample({"observation.state": torch.zeros(1, 5),
                      "observation.object": torch.zeros(1, 3)})


def test_the_policy_learns_to_follow_the_indicator_where_the_data_depends_on_it():
    """In the same states, s = 1 samples act +1 and s = 0 samples act -1 (30 % / 70 %): a few
    hundred steps must separate them, and the null condition sits in between. (In the twin
    the trained DexPIE policy barely reacts to s: that is the data, not this mechanism.)"""
    torch.manual_seed(0)
    model = FlowMatchingPolicy(FlowPolicyConfig(**{**SMALL, "hidden_size": 64, "num_layers": 3,
                                                   "max_delay_steps": 0}))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)

    def batch(n):
        data = _obs(n, seed=int(torch.randint(0, 2**31, (1,), generator=g)))
        optimality = (torch.rand(n, generator=g) < 0.3).float()
        base = data["observation.state"][:, :1, None].expand(n, 8, 5) * 0.5
        data["action"] = base + (2 * optimality - 1)[:, None, None]
        data["optimality"] = optimality
        return data, base

    for _ in range(300):
        loss = model.compute_loss(batch(128)[0], generator=g)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    test, base = batch(256)
    observation = {k: test[k] for k in ("observation.state", "observation.object")}

    def offset(optimality, cfg_scale=1.0):
        sample = model.sample(observation, optimality=optimality, cfg_scale=cfg_scale,
                              generator=torch.Generator().manual_seed(3))
        return float((sample - base).mean())

    assert offset(1.0) > 0.7 and offset(0.0) < -0.7
    assert offset(0.0) < offset(None) < offset(1.0)
    assert offset(1.0, cfg_scale=1.5) > 0.7
