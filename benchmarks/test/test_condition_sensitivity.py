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


def test_groups_split_human_windows_from_well_and_badly_rated_policy_ticks():
    human = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    s = np.array([1.0, 1.0, 0.9, 0.5, 0.1, 0.71])
    groups = sensitivity.sample_groups(human, s)
    assert [list(v) for v in groups.values()] == [[0, 1], [2, 5], [4]]
    with pytest.raises(ValueError, match="differ"):
        sensitivity.sample_groups(human, s[:3])


def test_flow_loss_is_the_training_loss_with_the_same_noise_and_no_dropout():
    torch.manual_seed(0)
    config = FlowPolicyConfig(action_dim=3, state_dim=2, horizon=4, hidden_size=32,
                              num_layers=2, max_delay_steps=1, optimality_dropout=0.0)
    model = FlowMatchingPolicy(config).eval()
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
