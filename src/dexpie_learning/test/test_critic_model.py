"""Critic model, config, checkpoint round trip and validation errors, and a tiny critic that
learns to rank successful above failed episodes."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from dexpie_learning.critic import (CriticCheckpointError, CriticConfig, CriticConfigError,
                                    CriticEpisode, DistributionalCritic, ReturnConfig,
                                    load_critic, ranking_accuracy, return_targets, save_critic,
                                    train_critic, value_target_correlation)
from dexpie_policy.flow import IMAGE_KEY_PREFIX, OBJECT_KEY, STATE_KEY
from dexpie_policy.normalization import NormalizationStats

L = 40


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models train fastest on one thread, and the tests share a loaded machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def synthetic_episode(index: int, success: bool, rng: np.random.Generator, stage="init",
                      images: bool = False) -> CriticEpisode:
    """A 'ball' carried towards a goal. Success: carried until the end. Failure: dropped at
    a random time, after which object_state[1] (held) is 0 and the ball falls back.
    The critic can tell outcomes apart only from the observation after the drop."""
    steps = int(rng.integers(20, 36))
    progress = np.linspace(0, 1, steps)
    held = np.ones(steps)
    if not success:
        drop = int(rng.integers(steps // 3, steps - 3))
        held[drop:] = 0.0
        progress[drop:] = progress[drop] * np.linspace(1, 0.2, steps - drop)
    obj = np.stack([progress, held], axis=1) + rng.normal(0, 0.02, (steps, 2))
    q = rng.normal(0, 0.3, (steps, 3)) + progress[:, None]
    frames = {}
    if images:
        frames["front"] = rng.integers(0, 255, (steps, 16, 16, 3), dtype=np.uint8)
    return CriticEpisode(episode_id=f"ep{index:03d}", stage=stage, success=success,
                         joint_positions=q, object_state=obj, images=frames,
                         return_target=return_targets(steps, success, ReturnConfig(L)),
                         intervention=np.zeros(steps, dtype=bool))


def tiny_config(**overrides) -> CriticConfig:
    fields = dict(state_dim=3, object_dim=2, hidden_size=32, num_layers=2)
    fields.update(overrides)
    return CriticConfig(**fields)


def random_stats(config: CriticConfig) -> NormalizationStats:
    rng = np.random.default_rng(0)
    return NormalizationStats.from_data({k: rng.normal(size=(50, *s))
                                         for k, s in config.feature_shapes().items()})


@pytest.mark.parametrize("kwargs", [dict(state_dim=0), dict(state_dim=3, num_bins=2),
                                    dict(state_dim=3, hidden_size=True),
                                    dict(state_dim=3, object_dim=-1),
                                    dict(state_dim=3, target_sigma_bins=0.0),
                                    dict(state_dim=3, camera_names=("a", "a")),
                                    dict(state_dim=3, image_size=(4, 64))])
def test_config_rejects_bad_values_naming_them(kwargs):
    with pytest.raises(CriticConfigError) as error:
        CriticConfig(**kwargs)
    assert str(list(kwargs.values())[-1]) in str(error.value)


def test_config_dict_round_trip_and_strict_keys():
    config = tiny_config(camera_names=("front",), image_size=(16, 16))
    assert CriticConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.num_bins == 201
    with pytest.raises(CriticConfigError, match="unknown config keys"):
        CriticConfig.from_dict({**config.to_dict(), "dropout": 0.1})
    with pytest.raises(CriticConfigError, match="missing config keys"):
        CriticConfig.from_dict({"state_dim": 3})


def test_value_is_expectation_in_support_and_images_are_used():
    config = tiny_config(camera_names=("front",), image_size=(16, 16))
    torch.manual_seed(0)
    critic = DistributionalCritic(config, random_stats(config))
    obs = {STATE_KEY: torch.randn(5, 3), OBJECT_KEY: torch.randn(5, 2),
           IMAGE_KEY_PREFIX + "front": torch.rand(5, 3, 16, 16)}
    assert critic.logits(obs).shape == (5, 201)
    values = critic.value(obs)
    assert values.shape == (5,) and torch.all((values >= -1) & (values <= 0))
    other = dict(obs, **{IMAGE_KEY_PREFIX + "front": torch.rand(5, 3, 16, 16)})
    assert not torch.allclose(critic.value(other), values)
    with pytest.raises(KeyError, match="observation.images.front"):
        critic.value({STATE_KEY: obs[STATE_KEY], OBJECT_KEY: obs[OBJECT_KEY]})


def test_episode_values_match_batched_value_with_images():
    rng = np.random.default_rng(1)
    episode = synthetic_episode(0, True, rng, images=True)
    config = tiny_config(camera_names=("front",), image_size=(16, 16))
    critic, losses = train_critic([episode], config, steps=3, batch_size=8, progress=False)
    assert len(losses) == 3 and all(np.isfinite(losses))
    values = critic.episode_values(episode, batch_size=7)    # several batches
    with torch.no_grad():
        direct = critic.value(episode.observation(slice(None), ("front",))).double().numpy()
    assert values.shape == (episode.num_steps,)
    np.testing.assert_allclose(values, direct, atol=1e-6)


def test_train_critic_rejects_mismatched_episodes():
    rng = np.random.default_rng(2)
    episode = synthetic_episode(0, True, rng)
    with pytest.raises(ValueError, match="state_dim=4"):
        train_critic([episode], tiny_config(state_dim=4), steps=1, progress=False)
    with pytest.raises(ValueError, match="camera 'front'"):
        train_critic([episode], tiny_config(camera_names=("front",)), steps=1, progress=False)


def test_checkpoint_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    episodes = [synthetic_episode(i, i % 2 == 0, rng) for i in range(4)]
    critic, _ = train_critic(episodes, tiny_config(), steps=5, batch_size=16, progress=False)
    save_critic(tmp_path / "critic", critic, metadata={"trained_on": ["ep000"]})
    loaded, metadata = load_critic(tmp_path / "critic")
    assert metadata == {"trained_on": ["ep000"]}
    assert loaded.config == critic.config
    assert loaded.stats.to_dict() == critic.stats.to_dict()
    for episode in episodes:
        np.testing.assert_array_equal(loaded.episode_values(episode),
                                      critic.episode_values(episode))


@pytest.fixture
def saved_critic(tmp_path):
    config = tiny_config()
    torch.manual_seed(0)
    return save_critic(tmp_path / "critic", DistributionalCritic(config, random_stats(config)))


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.update(format_version=99), "format_version 99"),
    (lambda d: d.update(critic_type="dexpie_flow"), "critic_type 'dexpie_flow'"),
    (lambda d: d.update(extra_key=1), "unknown top-level keys"),
    (lambda d: d["config"].pop("num_bins"), "missing config keys: \\['num_bins'\\]"),
    (lambda d: d["config"].update(num_bins=1), "num_bins must be"),
    (lambda d: d["config"].update(object_dim=3), "normalization.json"),
    (lambda d: d.update(metadata=[1]), "metadata must be a mapping"),
])
def test_load_rejects_bad_config(saved_critic, edit, message):
    _edit_json(saved_critic / "config.json", edit)
    with pytest.raises(CriticCheckpointError, match=message):
        load_critic(saved_critic)


def test_load_rejects_bad_files(saved_critic, tmp_path):
    with pytest.raises(CriticCheckpointError, match="does not exist"):
        load_critic(tmp_path / "nowhere")
    weights = saved_critic / "model.safetensors"
    tensors = load_file(str(weights))
    head = dict(tensors, **{"head.weight": tensors["head.weight"][:-1].contiguous()})
    save_file(head, str(weights))
    with pytest.raises(CriticCheckpointError, match="'head.weight' has shape"):
        load_critic(saved_critic)
    nonfinite = dict(tensors, **{"head.bias": torch.full_like(tensors["head.bias"], np.nan)})
    save_file(nonfinite, str(weights))
    with pytest.raises(CriticCheckpointError, match="non-finite"):
        load_critic(saved_critic)
    save_file({k: v for k, v in tensors.items() if k != "head.bias"}, str(weights))
    with pytest.raises(CriticCheckpointError, match="missing \\['head.bias'\\]"):
        load_critic(saved_critic)
    weights.write_bytes(b"not safetensors")
    with pytest.raises(CriticCheckpointError, match="corrupt"):
        load_critic(saved_critic)
    (saved_critic / "normalization.json").unlink()
    with pytest.raises(CriticCheckpointError, match="normalization.json: missing"):
        load_critic(saved_critic)


def test_tiny_critic_learns_to_rank_held_out_episodes():
    rng = np.random.default_rng(4)
    train = [synthetic_episode(i, i % 2 == 0, rng) for i in range(16)]
    held_out = [synthetic_episode(100 + i, i % 2 == 0, rng) for i in range(10)]
    critic, losses = train_critic(train, tiny_config(), steps=150, batch_size=64, lr=3e-3,
                                  seed=0, progress=False)
    assert np.mean(losses[-20:]) < 0.7 * np.mean(losses[:5])
    values = {e.episode_id: critic.episode_values(e) for e in held_out}
    ranking = ranking_accuracy(values, held_out)
    assert ranking.num_pairs == 25 and ranking.same_stage
    assert ranking.accuracy >= 0.9, ranking
    assert value_target_correlation(values, held_out) > 0.6
    # Late steps of failures (after the drop) are valued clearly below those of successes.
    late_success = np.mean([values[e.episode_id][-5:].mean() for e in held_out if e.success])
    late_failure = np.mean([values[e.episode_id][-5:].mean() for e in held_out
                            if not e.success])
    assert late_success > late_failure + 0.3


def test_observation_noise_is_scaled_per_feature_seeded_and_validated():
    from dexpie_learning.critic.training import feature_noise_scales
    stats = NormalizationStats.from_data({
        STATE_KEY: np.stack([np.linspace(0, 2, 50), np.full(50, 3.0), np.zeros(50)], 1),
        OBJECT_KEY: np.stack([np.linspace(-1, 1, 50), np.linspace(0, 10, 50)], 1)})
    scales = feature_noise_scales(stats, 0.5)
    np.testing.assert_allclose(scales[STATE_KEY].numpy(),
                               [0.5 * np.linspace(0, 2, 50).std(), 0.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(scales[OBJECT_KEY].numpy(),
                               0.5 * np.array([np.linspace(-1, 1, 50).std(),
                                               np.linspace(0, 10, 50).std()]), rtol=1e-6)
    assert feature_noise_scales(stats, 0.0) == {}
    rng = np.random.default_rng(5)
    episodes = [synthetic_episode(i, i % 2 == 0, rng) for i in range(6)]
    runs = [train_critic(episodes, tiny_config(), steps=5, batch_size=16, seed=3,
                         progress=False, observation_noise=noise)[1] for noise in (1.0, 1.0, 0.0)]
    assert runs[0] == runs[1] and runs[0] != runs[2]   # seeded, and the noise is applied
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="observation_noise must be a finite number >= 0"):
            train_critic(episodes, tiny_config(), steps=1, progress=False,
                         observation_noise=bad)


def test_a_critic_trained_with_observation_noise_still_ranks_held_out_episodes():
    rng = np.random.default_rng(4)
    train = [synthetic_episode(i, i % 2 == 0, rng) for i in range(16)]
    held_out = [synthetic_episode(100 + i, i % 2 == 0, rng) for i in range(10)]
    critic, _ = train_critic(train, tiny_config(), steps=150, batch_size=64, lr=3e-3, seed=0,
                             progress=False, observation_noise=0.5)
    values = {e.episode_id: critic.episode_values(e) for e in held_out}
    assert ranking_accuracy(values, held_out).accuracy >= 0.9
