"""Learning-rate schedule and weight average of the policy-training loop."""
from __future__ import annotations

import math

import pytest
import torch

from dexpie_learning.train.config import PolicyTrainConfig, TrainConfigError
from dexpie_learning.train.schedule import WeightAverage, learning_rate_at, warmup_steps_of


def test_cosine_warms_up_peaks_and_ends_at_the_floor() -> None:
    config = PolicyTrainConfig(steps=1000, learning_rate=1e-3, warmup_steps=50, min_lr_ratio=0.1,
                               lr_schedule="cosine")
    rates = [learning_rate_at(config, k) for k in range(config.steps)]
    assert rates[0] == pytest.approx(1e-3 / 50) and rates[49] == pytest.approx(1e-3)
    assert all(b > a for a, b in zip(rates[:49], rates[1:50]))          # warm-up rises
    assert all(b <= a for a, b in zip(rates[50:-1], rates[51:]))         # then only decays
    assert rates[-1] == pytest.approx(1e-4)
    middle = 50 + (config.steps - 1 - 50) // 2
    assert rates[middle] == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * (middle - 50) / 949)))


def test_warmup_is_at_most_a_tenth_of_a_short_run_and_constant_is_constant() -> None:
    short = PolicyTrainConfig(steps=30, warmup_steps=100, lr_schedule="cosine")
    assert warmup_steps_of(short) == 3
    assert learning_rate_at(short, 3) == pytest.approx(short.learning_rate)
    assert learning_rate_at(PolicyTrainConfig(steps=1, lr_schedule="cosine"), 0) == pytest.approx(3e-4)
    constant = PolicyTrainConfig(steps=500, lr_schedule="constant")
    assert {learning_rate_at(constant, k) for k in range(500)} == {constant.learning_rate}


@pytest.mark.parametrize("field, value, message", [
    ("lr_schedule", "linear", "lr_schedule must be one of"),
    ("ema_decay", 1.0, r"ema_decay must be in \[0, 1\)"),
    ("min_lr_ratio", 1.5, r"min_lr_ratio must be in \[0, 1\]"),
    ("warmup_steps", -1, "warmup_steps must be >= 0"),
])
def test_bad_schedule_values_are_named(field, value, message) -> None:
    with pytest.raises(TrainConfigError, match=message):
        PolicyTrainConfig(**{field: value})


def test_weight_average_follows_the_weights_with_a_warmed_up_decay() -> None:
    model = torch.nn.Linear(2, 1)
    average = WeightAverage(model, decay=0.9)
    assert average.decay_at(0) == pytest.approx(0.1) and average.decay_at(1000) == 0.9
    start = average.model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update(model, step=0)   # decay 0.1: moves 90 % of the way
    torch.testing.assert_close(average.model.weight, start + 0.9)
    for step in range(1, 400):
        average.update(model, step)
    torch.testing.assert_close(average.model.weight, model.weight.detach(), atol=1e-6, rtol=0)
    assert not any(p.requires_grad for p in average.model.parameters())
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(model, decay=0.0)


def test_the_saved_policy_is_the_weight_average_when_asked(tmp_path) -> None:
    """A real training run: with ema_decay the checkpoint holds the averaged weights."""
    import numpy as np

    from dexpie_learning.train.loop import train_resumable
    from dexpie_policy.actions import twin_action_spec
    from dexpie_policy.chunk_dataset import ChunkDataset, EpisodeArrays

    rng = np.random.default_rng(0)
    q = np.cumsum(rng.normal(0, 0.01, (40, 4)), axis=0)
    spec = twin_action_spec(("arm0", "arm1"), ("f0", "f1"))
    dataset = ChunkDataset([EpisodeArrays(q, q + 0.01, rng.normal(size=(40, 3)))], spec, horizon=8)
    policy_config = dataset.policy_config(hidden_size=32, num_layers=2)
    averaged = train_resumable(dataset, policy_config, PolicyTrainConfig(
        steps=30, batch_size=8, hidden_size=32, num_layers=2, ema_decay=0.9,
        lr_schedule="cosine"), tmp_path / "ema", fingerprint={}, progress=False)
    last = train_resumable(dataset, policy_config, PolicyTrainConfig(
        steps=30, batch_size=8, hidden_size=32, num_layers=2, lr_schedule="cosine"),
        tmp_path / "last", fingerprint={}, progress=False)
    assert (tmp_path / "ema" / "train_state" / "ema.safetensors").is_file()
    assert not (tmp_path / "last" / "train_state" / "ema.safetensors").exists()
    # Same seed, same batches: the last iterates agree, the saved models do not.
    differs = [not torch.equal(a, b) for a, b in zip(averaged.model.parameters(),
                                                     last.model.parameters())]
    assert any(differs) and averaged.losses == last.losses


def test_a_device_the_machine_lacks_is_refused_naming_it() -> None:
    from dexpie_learning.train.loop import training_device
    assert training_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="'tpu' is not a torch device"):
        training_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda': torch sees no CUDA device"):
            training_device("cuda")
    else:
        with pytest.raises(ValueError, match="CUDA device"):
            training_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_saves_a_cpu_checkpoint(tmp_path) -> None:
    import numpy as np

    from dexpie_learning.train.loop import train_resumable
    from dexpie_policy.actions import twin_action_spec
    from dexpie_policy.chunk_dataset import ChunkDataset, EpisodeArrays

    rng = np.random.default_rng(0)
    q = np.cumsum(rng.normal(0, 0.01, (40, 4)), axis=0)
    spec = twin_action_spec(("arm0", "arm1"), ("f0", "f1"))
    dataset = ChunkDataset([EpisodeArrays(q, q + 0.01, rng.normal(size=(40, 3)))], spec, horizon=8)
    config = PolicyTrainConfig(steps=20, batch_size=8, hidden_size=32, num_layers=2, save_every=10)
    policy_config = dataset.policy_config(hidden_size=32, num_layers=2)
    whole = train_resumable(dataset, policy_config, config, tmp_path / "whole", fingerprint={},
                            progress=False, device="cuda")
    assert all(p.device.type == "cpu" for p in whole.model.parameters())
    train_resumable(dataset, policy_config, config, tmp_path / "split", fingerprint={},
                    progress=False, device="cuda", stop_after=10)
    resumed = train_resumable(dataset, policy_config, config, tmp_path / "split",
                              fingerprint={}, progress=False, device="cuda")
    assert resumed.resumed_from == 10
    for a, b in zip(whole.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
