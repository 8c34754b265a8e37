"""The pure parts of benchmarks/condition_sensitivity.py: sample groups and the fixed-noise loss."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from dexpie_policy.flow import FlowMatchingPolicy, FlowPolicyConfig

_SPEC = importlib.util.spec_from_file_location(
    "condition_sensitivity", Path(__file__).resolve().parents[1] / "condition_sensitivity.py")
sensitivity = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(sensitivity)


def _small_model() -> FlowMatchingPolicy:
    torch.manual_seed(0)
    return FlowMatchingPolicy(FlowPolicyConfig(
        action_dim=3, state_dim=2, horizon=4, hidden_size=32, num_layers=2, max_delay_steps=1,
        optimality_dropout=0.0)).eval()


def test_groups_split_human_windows_from_well_and_badly_rated_policy_ticks():
    human = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    s = np.array([1.0, 1.0, 0.9, 0.5, 0.1, 0.71])
    groups = sensitivity.sample_groups(human, s)
    assert [list(v) for v in groups.values()] == [[0, 1], [2, 5], [4]]
    with pytest.raises(ValueError, match="differ"):
        sensitivity.sample_groups(human, s[:3])


def test_flow_loss_is_the_training_loss_with_the_same_noise_and_no_dropout():
    model = _small_model()
    batch = {"observation.state": torch.randn(5, 2), "action": torch.randn(5, 4, 3),
             "action_weight": torch.rand(5, 4)}
    s = torch.tensor([1.0, 0.0, 0.5, float("nan"), 0.2])
    with torch.no_grad():
        expected = model.compute_loss(dict(batch, optimality=s),
                                      generator=torch.Generator().manual_seed(7),
                                      delay_steps=torch.zeros(5, dtype=torch.long))
    assert sensitivity.flow_loss(model, batch, s, seed=7) == pytest.approx(float(expected))
    # The condition reaches the loss: another s gives another value.
    assert sensitivity.flow_loss(model, batch, torch.zeros(5), seed=7) != pytest.approx(
        float(expected))


def test_action_shift_is_zero_for_a_model_that_ignores_the_condition_and_not_otherwise():
    model = _small_model()
    batch = {"observation.state": torch.randn(6, 2), "action": torch.randn(6, 4, 3),
             "action_weight": torch.ones(6, 4)}
    moved = sensitivity.action_shift(model, batch, seed=3)
    assert moved["shift"] > 0 and moved["spread"] > 0
    assert moved == sensitivity.action_shift(model, batch, seed=3)   # seeded
    with torch.no_grad():   # the condition's embedding made constant: s no longer matters
        for layer in model.optimality_mlp:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
    still = sensitivity.action_shift(model, batch, seed=3)
    assert still["shift"] == 0.0 and still["error_s1"] == still["error_s0"]
    assert still["spread"] > 0
    # padded steps (weight 0) are left out of every figure
    far = dict(batch, action=batch["action"].clone())
    far["action"][:, -1] += 100.0
    far["action_weight"] = torch.ones(6, 4)
    far["action_weight"][:, -1] = 0.0
    masked = sensitivity.action_shift(model, far, seed=3)
    assert masked["error_s1"] < 10.0
