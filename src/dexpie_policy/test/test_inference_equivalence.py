"""FlowMatchingPolicy.sample (the inference rewrite: values kept between calls, the Euler loop
on the layers' functions) against the sampler it replaced (flow.reference.reference_sample):
with linear_backend "torch" the same chunks bit for bit, with "numpy" (flow.numpy_sampler)
and "onnxruntime" (flow.onnx_sampler, PolicyRunner's choice on CPU) within NUMPY_ATOL; the kept values follow
parameter changes; and checkpoints written before the rewrite, with the chunks the code of
that time returned for them (data/inference_fixture, made by data/make_inference_fixture.py
at commit e3793f1), still load and give those chunks."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from dexpie_policy.flow import FlowMatchingPolicy, FlowPolicyConfig
from dexpie_policy.flow.reference import reference_sample
from dexpie_policy.runner import PolicyRunner, resolve_linear_backend

FIXTURE = Path(__file__).resolve().parent / "data" / "inference_fixture"
# The stored chunks were computed on another CPU: its BLAS may round differently (~1e-7
# relative per operation), so they are compared with this tolerance; the same-machine
# comparisons below are exact.
STORED_ATOL = 1e-5
# linear_backends "numpy" and "onnxruntime" sum the products in another order: on the
# normalised chunk (and on the absolute targets) they stay within this of the reference
# (seen: <= 1.6e-6 normalised on random hidden-512 models, <= 3.5e-7 rad on the targets of 17
# trained checkpoints).
NUMPY_ATOL = 1e-5
FAST_BACKENDS = ("numpy", "onnxruntime")


def _model(seed=0, **overrides):
    config = dict(action_dim=7, state_dim=6, object_dim=3, horizon=8, hidden_size=48,
                  num_layers=2, time_embedding_dim=16, optimality_embedding_dim=16,
                  num_inference_steps=5, max_delay_steps=3)
    torch.manual_seed(seed)
    return FlowMatchingPolicy(FlowPolicyConfig(**{**config, **overrides})).eval()


def _observation(model, batch, seed=1):
    g, c = torch.Generator().manual_seed(seed), model.config
    obs = {"observation.state": torch.randn(batch, c.state_dim, generator=g),
           "observation.object": torch.randn(batch, c.object_dim, generator=g)}
    for key in c.image_keys():
        obs[key] = torch.rand(batch, c.image_channels, *c.image_size, generator=g)
    return obs


def _both(model, obs, seed=5, linear_backend="torch", **kwargs):
    new = model.sample(obs, generator=torch.Generator().manual_seed(seed),
                       linear_backend=linear_backend, **kwargs)
    old = reference_sample(model, obs, generator=torch.Generator().manual_seed(seed), **kwargs)
    return new, old


OPTIMALITY_CASES = [(1.0, 1.5), (1.0, 1.0), (None, 1.5), (0.3, 2.0), (0.0, 0.0),
                    (float("nan"), 1.5), ("tensor", 1.5)]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("delay", [0, 1, 3, 8])
@pytest.mark.parametrize("optimality,cfg_scale", OPTIMALITY_CASES)
def test_sample_equals_the_reference_sampler_bit_for_bit(batch, delay, optimality, cfg_scale):
    model = _model()
    obs = _observation(model, batch)
    if optimality == "tensor":
        optimality = torch.tensor([0.9, float("nan"), 0.2][:batch])
    prefix = torch.randn(batch, delay, 7, generator=torch.Generator().manual_seed(2)) \
        if delay else None
    for _ in range(2):   # the second call uses the values kept from the first
        new, old = _both(model, obs, prefix=prefix, optimality=optimality, cfg_scale=cfg_scale)
        assert new.shape == (batch, 8, 7) and new.is_contiguous()
        assert torch.equal(new, old)
        if delay:
            assert torch.equal(new[:, :delay], prefix)
        for backend in FAST_BACKENDS:
            fast, _ = _both(model, obs, linear_backend=backend, prefix=prefix,
                            optimality=optimality, cfg_scale=cfg_scale)
            assert fast.shape == (batch, 8, 7) and fast.dtype == old.dtype
            torch.testing.assert_close(fast, old, rtol=0, atol=NUMPY_ATOL)
            if delay:
                assert torch.equal(fast[:, :delay], prefix)


def test_numpy_backend_at_deployment_size_stays_within_tolerance():
    """The default policy size (hidden 512, 3 blocks, H = 16, 10 steps), BC and CFG."""
    for conditioned in (False, True):
        model = _model(hidden_size=512, num_layers=3, horizon=16, num_inference_steps=10,
                       time_embedding_dim=64, optimality_embedding_dim=64,
                       optimality_conditioning=conditioned)
        obs = _observation(model, 2)
        kwargs = {"prefix": torch.randn(2, 4, 7), "cfg_scale": 1.5,
                  **({"optimality": 1.0} if conditioned else {})}
        for backend in FAST_BACKENDS:
            for batch in (2, 1):   # several observations run the torch loop
                fast, old = _both(model, {k: v[:batch] for k, v in obs.items()},
                                  linear_backend=backend,
                                  **{**kwargs, "prefix": kwargs["prefix"][:batch]})
                torch.testing.assert_close(fast, old, rtol=0, atol=NUMPY_ATOL)
        new, old = _both(model, obs, **kwargs)
        assert torch.equal(new, old)


def test_linear_backend_choice_and_checks(monkeypatch):
    model = _model()
    with pytest.raises(ValueError, match="linear_backend must be one of"):
        model.sample(_observation(model, 1), linear_backend="mkl")
    for backend in FAST_BACKENDS:
        with pytest.raises(ValueError, match="float32/float64 CPU"):
            model.to(torch.bfloat16).sample({k: v.to(torch.bfloat16) for k, v in
                                             _observation(model, 1).items()},
                                            linear_backend=backend)
    cpu = torch.device("cpu")
    # auto, next to torch's 1 thread: onnxruntime where installed, else numpy where numpy's
    # BLAS can be held to 1 thread, else torch.
    assert resolve_linear_backend("auto", cpu, 1) == "onnxruntime"
    assert resolve_linear_backend("onnxruntime", cpu, None) == "onnxruntime"
    assert resolve_linear_backend("auto", cpu, None) == "torch"
    assert resolve_linear_backend("auto", cpu, 2) == "torch"
    assert resolve_linear_backend("auto", torch.device("meta"), 1) == "torch"
    assert resolve_linear_backend("torch", cpu, 1) == "torch"
    assert resolve_linear_backend("numpy", cpu, None) == "numpy"
    with pytest.raises(ValueError, match="runs CPU models"):
        resolve_linear_backend("numpy", torch.device("meta"), 1)
    with pytest.raises(ValueError, match="linear_backend must be 'auto'"):
        resolve_linear_backend("fast", cpu, 1)
    from threadpoolctl import threadpool_info
    assert all(info["num_threads"] == 1 for info in threadpool_info()
               if info["user_api"] == "blas")
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)   # not installed
    assert resolve_linear_backend("auto", cpu, 1) == "numpy"
    with pytest.raises(ValueError, match="needs the onnx and onnxruntime packages"):
        resolve_linear_backend("onnxruntime", cpu, 1)
    monkeypatch.setitem(__import__("sys").modules, "threadpoolctl", None)   # not installed
    assert resolve_linear_backend("auto", cpu, 1) == "torch"


def test_bc_policy_and_image_policy_equal_the_reference_bit_for_bit():
    for model in (_model(optimality_conditioning=False),
                  _model(camera_names=("front",), image_size=(16, 16))):
        obs = _observation(model, 2)
        prefix = torch.randn(2, 2, 7)
        for kwargs in ({}, {"prefix": prefix}, {"prefix": prefix, "cfg_scale": 1.5}):
            new, old = _both(model, obs, **kwargs)
            assert torch.equal(new, old)
    # The comparison can tell chunks apart: other noise, other guidance.
    model = _model()
    obs = _observation(model, 1)
    new, _ = _both(model, obs, optimality=1.0, cfg_scale=1.5)
    assert not torch.equal(new, _both(model, obs, seed=6, optimality=1.0, cfg_scale=1.5)[1])
    assert not torch.equal(new, _both(model, obs, optimality=1.0, cfg_scale=1.4)[1])


def test_kept_values_follow_parameter_changes():
    """The step grid's time features and the optimality conditions are kept between calls;
    an optimizer step, a loaded state dict, an in-place edit and a dtype change must each
    give the chunks of the changed parameters, not of the kept values."""
    model = _model()
    obs = _observation(model, 2)
    kwargs = dict(optimality=1.0, cfg_scale=1.5, prefix=torch.randn(2, 2, 7))
    before, _ = _both(model, obs, **kwargs)
    original = copy.deepcopy(model.state_dict())

    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    batch = {**obs, "action": torch.randn(2, 8, 7), "optimality": torch.ones(2)}
    model.train()
    model.compute_loss(batch, generator=torch.Generator().manual_seed(0)).backward()
    optimizer.step()
    model.eval()
    stepped, reference = _both(model, obs, **kwargs)
    assert torch.equal(stepped, reference) and not torch.equal(stepped, before)

    _assert_numpy_backend_follows(model)

    model.load_state_dict(original)
    restored, reference = _both(model, obs, **kwargs)
    assert torch.equal(restored, reference) and torch.equal(restored, before)
    _assert_numpy_backend_follows(model)

    with torch.no_grad():   # only the parameters the kept values depend on
        model.time_mlp[0].weight.mul_(1.5)
        model.optimality_mlp[2].bias.add_(0.3)
    edited, reference = _both(model, obs, **kwargs)
    assert torch.equal(edited, reference) and not torch.equal(edited, before)
    # The numpy sampler keeps copies of the input and output layers' columns, with the
    # output LayerNorm folded in: an edit of any of them must show.
    for parameter in (model.input_proj.weight, model.input_proj.bias, model.output_proj.weight,
                      model.output_proj.bias, model.output_norm.weight, model.output_norm.bias,
                      model.film.weight, model.blocks[1].mlp[2].bias):
        previous = _assert_numpy_backend_follows(model)
        with torch.no_grad():
            parameter.add_(0.05)
        assert not torch.equal(_assert_numpy_backend_follows(model), previous)

    model.double()
    obs64 = {k: v.double() for k, v in obs.items()}
    kwargs64 = {**kwargs, "prefix": kwargs["prefix"].double()}
    new, old = _both(model, obs64, **kwargs64)
    assert new.dtype == torch.float64 and torch.equal(new, old)

    # A copy does not carry the kept values with it, and gives the same chunks.
    clone = copy.deepcopy(model)
    assert "_sample_cache" in model.__dict__ and "_sample_cache" not in clone.__dict__
    assert torch.equal(_both(clone, obs64, **kwargs64)[0], new)


def _assert_numpy_backend_follows(model, delay=2):
    """The numpy and ONNX samplers' chunks for one observation, each checked against the
    reference on the model's current parameters -> the ONNX sampler's chunk."""
    obs = _observation(model, 1, seed=3)
    kwargs = dict(optimality=1.0, cfg_scale=1.5, prefix=torch.randn(
        1, delay, model.config.action_dim, generator=torch.Generator().manual_seed(4)))
    for backend in FAST_BACKENDS:
        fast, old = _both(model, obs, linear_backend=backend, **kwargs)
        torch.testing.assert_close(fast, old, rtol=0, atol=NUMPY_ATOL)
    return fast


def _reference_runner(directory):
    runner = PolicyRunner.from_pretrained(directory, linear_backend="torch")
    model = runner.model
    runner.model = copy.copy(model)   # a shallow copy whose sample is the old sampler

    def sample(*args, linear_backend, **kwargs):
        return reference_sample(model, *args, **kwargs)
    runner.model.sample = sample
    return runner


@pytest.mark.parametrize("name", ["indicator", "bc"])
def test_checkpoints_written_before_the_rewrite_give_the_stored_chunks(name):
    from data.make_inference_fixture import CASES
    stored = np.load(FIXTURE / "chunks.npz")
    runner = PolicyRunner.from_pretrained(FIXTURE / name)          # linear_backend auto
    exact = PolicyRunner.from_pretrained(FIXTURE / name, linear_backend="torch")
    reference = _reference_runner(FIXTURE / name)
    assert runner.linear_backend == "onnxruntime"
    numpy = PolicyRunner.from_pretrained(FIXTURE / name, linear_backend="numpy")
    q, obj, prefix = stored["q"], stored["object"], stored["prefix"]
    for case, optimality, cfg_scale, rows, seed in CASES[name]:
        kwargs = {} if optimality == "default" else {"optimality": optimality}
        fast, same, old, with_numpy = [
            r.predict_chunk(q, obj, prefix_targets=prefix[:rows], cfg_scale=cfg_scale,
                            generator=torch.Generator().manual_seed(seed), **kwargs)
            for r in (runner, exact, reference, numpy)]
        np.testing.assert_array_equal(same, old, err_msg=case)
        np.testing.assert_allclose(same, stored[f"{name}/{case}"], rtol=0, atol=STORED_ATOL,
                                   err_msg=case)
        for chunk in (fast, with_numpy):
            np.testing.assert_allclose(chunk, stored[f"{name}/{case}"], rtol=0,
                                       atol=STORED_ATOL + NUMPY_ATOL, err_msg=case)
            np.testing.assert_array_equal(chunk[:rows], prefix[:rows])
