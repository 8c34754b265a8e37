"""Training samples: chunk windows, end-of-episode padding and its mask, representation,
statistics in the trained representation, batch layout."""
import numpy as np
import pytest
from policy_helpers import make_episodes, make_spec

from dexpie_policy.actions import to_relative
from dexpie_policy.chunk_dataset import (DEFAULT_PADDED_STEP_WEIGHT, ChunkDataset, EpisodeArrays,
                                         make_training_batch)


def test_samples_are_anchored_chunks_padded_by_repeating_the_last_command():
    spec = make_spec()
    episodes = make_episodes(count=2, steps=10)
    dataset = ChunkDataset(episodes, spec, horizon=4)
    assert len(dataset) == 20 and dataset.actions.shape == (20, 4, spec.action_dim)
    episode = episodes[1]
    for t in (0, 7, 9):
        rows = [min(t + k, 9) for k in range(4)]
        expected = to_relative(episode.command[rows], episode.joint_positions[t], spec)
        np.testing.assert_array_equal(dataset.actions[10 + t], expected)
        np.testing.assert_array_equal(dataset.action_is_pad[10 + t],
                                      [t + k > 9 for k in range(4)])
    assert np.isnan(dataset.optimality[10:]).all()          # episode 1 has no indicator
    np.testing.assert_allclose(dataset.optimality[:10], np.linspace(0, 1, 10))


def test_stats_are_in_the_trained_representation_over_real_steps():
    spec = make_spec()
    dataset = ChunkDataset(make_episodes(count=3, steps=8), spec, horizon=5)
    real = dataset.actions[~dataset.action_is_pad]
    np.testing.assert_allclose(dataset.stats.features["action"].mean, real.mean(0))
    assert dataset.stats.keys() == ["action", "observation.object", "observation.state"]
    dataset.stats.validate(dataset.policy_config().feature_shapes())


def test_training_batch_layout_and_padding_weight():
    spec = make_spec()
    dataset = ChunkDataset(make_episodes(count=1, steps=6, cameras=("front",)), spec, horizon=4)
    batch = make_training_batch(dataset, np.array([0, 5]), dataset.stats)
    assert batch["observation.images.front"].shape == (2, 3, 16, 16)
    assert float(batch["observation.images.front"].max()) <= 1.0
    assert batch["action"].shape == (2, 4, spec.action_dim)
    np.testing.assert_allclose(batch["action_weight"].numpy(),
                               [[1, 1, 1, 1], [1] + [DEFAULT_PADDED_STEP_WEIGHT] * 3])


def test_inconsistent_episodes_are_rejected():
    spec = make_spec()
    good = make_episodes(count=1, steps=5)[0]
    with pytest.raises(ValueError, match="command"):
        EpisodeArrays(good.joint_positions, good.command[:4])
    with pytest.raises(ValueError, match="optimality"):
        EpisodeArrays(good.joint_positions, good.command, optimality=np.full(5, 2.0))
    no_object = EpisodeArrays(good.joint_positions, good.command)
    with pytest.raises(ValueError, match="episode 1"):
        ChunkDataset([good, no_object], spec, horizon=4)
    dataset = ChunkDataset([good], spec, horizon=4)
    with pytest.raises(ValueError, match="horizon"):
        dataset.check_matches(dataset.policy_config(horizon=8))
