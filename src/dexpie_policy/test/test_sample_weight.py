"""Per-sample loss weights (EpisodeArrays.sample_weight): a weight of 0 removes a sample's
influence, weights scale its gradient, unweighted training is unchanged, bad weights are
rejected."""
import dataclasses

import numpy as np
import pytest
import torch
from policy_helpers import make_episodes, make_spec

from dexpie_policy.chunk_dataset import ChunkDataset, EpisodeArrays, make_training_batch
from dexpie_policy.flow import FlowMatchingPolicy
from dexpie_policy.training import train_policy

SMALL = dict(hidden_size=32, num_layers=1, time_embedding_dim=8, optimality_embedding_dim=8,
             max_delay_steps=2)


def _dataset(weights=None, episodes=None):
    episodes = episodes or make_episodes(count=2, steps=10)
    if weights is not None:
        episodes = [dataclasses.replace(e, sample_weight=w) for e, w in zip(episodes, weights)]
    return ChunkDataset(episodes, make_spec(), horizon=6)


DELAY = 1


def _gradient(dataset, model, indices, stats, seed=3):
    """Flattened gradient of the batch loss over `indices` (fixed noise via seed, every
    sample with delay DELAY)."""
    model.zero_grad(set_to_none=True)
    batch = make_training_batch(dataset, np.asarray(indices), stats)
    delays = torch.full((len(indices),), DELAY)
    model.compute_loss(batch, generator=torch.Generator().manual_seed(seed),
                       delay_steps=delays).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.fixture
def model_and_stats():
    dataset = _dataset()
    torch.manual_seed(0)
    return FlowMatchingPolicy(dataset.policy_config(**SMALL)), dataset.stats


def test_zero_weight_sample_has_no_influence(model_and_stats):
    model, stats = model_and_stats
    episodes = make_episodes(count=2, steps=10)
    zero_second = [np.ones(10), np.r_[np.ones(9), 0.0]]
    base = _dataset(zero_second, episodes)
    # Replace the zero-weight sample's observation and actions by garbage: nothing changes.
    garbage = [episodes[0], dataclasses.replace(
        episodes[1], command=episodes[1].command + np.r_[np.zeros((9, 8)), np.full((1, 8), 5.0)],
        joint_positions=episodes[1].joint_positions + np.r_[np.zeros((9, 8)), np.ones((1, 8))])]
    changed = _dataset(zero_second, garbage)
    indices = [0, 5, 19]                       # 19 = last step of episode 1, weight 0
    assert not np.allclose(base.actions[19], changed.actions[19])
    g_base = _gradient(base, model, indices, stats)
    g_changed = _gradient(changed, model, indices, stats)
    torch.testing.assert_close(g_base, g_changed, rtol=0, atol=0)
    # ...whereas with weight 1 the same garbage does change the gradient.
    g_plain = _gradient(_dataset(None, garbage), model, indices, stats)
    assert not torch.allclose(g_plain, _gradient(_dataset(None, episodes), model, indices, stats))


def test_weights_scale_each_samples_gradient(model_and_stats):
    """loss = sum_b w_b sum_h a_bh e_bh / sum_b w_b sum_h a_bh (a = padding weight), so
    grad(w) = sum_b w_b A_b G_b / sum_b w_b A_b, G_b the gradient with weight on b only."""
    model, stats = model_and_stats
    episodes = make_episodes(count=2, steps=10)
    indices = [2, 8]                           # 8 is near the end: some padded steps

    def grad_with(w2, w8):
        w = np.ones(10)
        w[2], w[8] = w2, w8
        return _gradient(_dataset([w, np.ones(10)], episodes), model, indices, stats)

    dataset = _dataset(None, episodes)
    # A_b: sample b's loss mass (padding weight over the predicted, non-prefix steps).
    pad = np.where(dataset.action_is_pad[indices], 0.1, 1.0)[:, DELAY:].sum(axis=1)
    assert pad[0] > pad[1]                     # index 8 has padded steps
    g2, g8 = grad_with(1.0, 0.0), grad_with(0.0, 1.0)      # = g_b / A_b
    for w2, w8 in ((2.0, 1.0), (1.0, 3.0), (0.5, 0.0)):
        expected = (w2 * pad[0] * g2 + w8 * pad[1] * g8) / (w2 * pad[0] + w8 * pad[1])
        torch.testing.assert_close(grad_with(w2, w8), expected.float(), rtol=1e-4, atol=1e-6)
    # Equal weights (any scale) reproduce the unweighted gradient.
    torch.testing.assert_close(grad_with(4.0, 4.0),
                               _gradient(dataset, model, indices, stats), rtol=1e-5, atol=1e-7)


def test_unweighted_training_is_unchanged_and_zero_weights_are_never_drawn():
    episodes = make_episodes(count=2, steps=10)
    plain = _dataset(None, episodes)
    ones = _dataset([np.ones(10), np.ones(10)], episodes)
    config = plain.policy_config(**SMALL)
    _, losses_plain = train_policy(plain, config, steps=3, batch_size=4, seed=1, progress=False)
    _, losses_ones = train_policy(ones, config, steps=3, batch_size=4, seed=1, progress=False)
    assert losses_plain == losses_ones
    only_first = _dataset([np.ones(10), np.zeros(10)], episodes)
    drawn = []
    import dexpie_policy.training as training
    real = training.make_training_batch
    training.make_training_batch = lambda d, idx, *a: drawn.append(idx) or real(d, idx, *a)
    try:
        train_policy(only_first, config, steps=3, batch_size=8, seed=0, progress=False)
    finally:
        training.make_training_batch = real
    assert all(np.all(idx < 10) for idx in drawn) and len(drawn) == 3
    with pytest.raises(ValueError, match="weight 0"):
        train_policy(_dataset([np.zeros(10), np.zeros(10)], episodes), config, steps=1,
                     progress=False)


@pytest.mark.parametrize("weight", [np.full(9, 1.0), np.r_[np.ones(9), -1.0],
                                    np.r_[np.ones(9), np.nan]])
def test_bad_sample_weights_are_rejected(weight):
    episode = make_episodes(count=1, steps=10)[0]
    with pytest.raises(ValueError, match="sample_weight"):
        EpisodeArrays(episode.joint_positions, episode.command, sample_weight=weight)
