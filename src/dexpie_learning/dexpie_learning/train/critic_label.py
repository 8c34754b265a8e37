"""`train critic` and `train label`: the offline scoring of recorded experience.

critic: cross-fitted distributional critics (dexpie_learning.critic) on every episode with a
success/failure outcome; writes <out>/critic_0, <out>/critic_1 (each with the ids it trained
on), loss curves, held-out value curves and diagnostics (ranking accuracy) in training.json.

label: every such episode is valued by the critic that did NOT train on it (an episode in
neither half, e.g. recorded after the critic, gets the mean of both and is listed as not
cross-fitted), then advantages, the continuous and the binary indicator are computed
(dexpie_learning.labels) and stored with the dataset: <labels>/labels/<label_set>.*.

Episodes with an aborted or unknown outcome have no return and are left out of both (and of
the labelled policy methods); they are counted in training.json.
"""
from __future__ import annotations

import dataclasses

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexpie_common.hand import HandDescription
from dexpie_learning.critic import (CriticConfig, ReturnConfig, critic_episode,
                                    cross_fit_values, load_critic, plot_value_curves,
                                    ranking_accuracy, save_critic, value_target_correlation)
from dexpie_learning.critic.returns import DEFAULT_FAILURE_DECAY, DEFAULT_FAILURE_PENALTY
from dexpie_learning.datasets import DatasetError
from dexpie_episode import OUTCOME_FAILURE, OUTCOME_SUCCESS
from dexpie_learning.labels import (DEFAULT_HUMAN_OVERRIDE, HUMAN_OVERRIDES, label_dataset,
                                    load_labels, plot_label_histograms, save_labels)
from dexpie_learning.train.config import TrainConfigError, _check_field_types, config_to_dict
from dexpie_learning.train.data import TrainingData, load_training_data, object_state_wanted
from dexpie_learning.train.plots import save_loss_curves

CRITIC_DIRS = ("critic_0", "critic_1")
DEFAULT_LABEL_SET = "dexpie"


@dataclass(frozen=True)
class CriticTrainConfig:
    """Critic training. max_episode_steps: L, the return normaliser (0 = the hand description's step
    limit). failure_penalty C_fail, failure_decay gamma_f. num_bins K on [-1, 0],
    target_sigma_bins: target smoothing in bins. observation_noise: Gaussian noise on the
    joint and object features while training, in units of each feature's std (0: none;
    critic.training.train_critic)."""
    steps: int = 3000
    batch_size: int = 256
    learning_rate: float = 3e-4
    seed: int = 0
    hidden_size: int = 256
    num_layers: int = 3
    num_bins: int = 201
    target_sigma_bins: float = 1.0
    max_episode_steps: int = 0
    failure_penalty: float = DEFAULT_FAILURE_PENALTY
    failure_decay: float = DEFAULT_FAILURE_DECAY
    use_object_state: bool = True
    cameras: tuple[str, ...] = ()
    # Without input noise the critics memorise their episodes (benchmarks/critic_generalization.py).
    observation_noise: float = 4.0

    def __post_init__(self):
        _check_field_types(self)
        if not 0 <= self.observation_noise < float("inf"):
            raise TrainConfigError(f"observation_noise must be a finite number >= 0, got "
                                   f"{self.observation_noise}")
        for name in ("steps", "batch_size", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise TrainConfigError(f"{name} must be a positive integer, got "
                                       f"{getattr(self, name)!r}")
        if self.seed < 0 or self.max_episode_steps < 0:
            raise TrainConfigError(f"seed and max_episode_steps must be >= 0, got "
                                   f"{self.seed}, {self.max_episode_steps}")
        if not 0 < self.learning_rate < 1:
            raise TrainConfigError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.num_bins < 3 or not 0 < self.target_sigma_bins <= self.num_bins:
            raise TrainConfigError(f"num_bins must be >= 3 and target_sigma_bins in (0, "
                                   f"num_bins], got {self.num_bins}, {self.target_sigma_bins}")
        if self.failure_penalty < 0 or not 0 < self.failure_decay <= 1:
            raise TrainConfigError(f"failure_penalty must be >= 0 and failure_decay in (0, 1],"
                                   f" got {self.failure_penalty}, {self.failure_decay}")


@dataclass(frozen=True)
class LabelConfig:
    """horizon: H of the advantage's chunk window (must be the policy's horizon).
    human_override: whose whole-human windows are forced to s = 1, one of HUMAN_OVERRIDES
    ("all": the paper; "successful": episodes that succeeded; "none")."""
    horizon: int = 16
    human_override: str = DEFAULT_HUMAN_OVERRIDE

    def __post_init__(self):
        _check_field_types(self)
        if self.horizon < 1:
            raise TrainConfigError(f"horizon must be a positive integer, got {self.horizon!r}")
        if self.human_override not in HUMAN_OVERRIDES:
            raise TrainConfigError(f"human_override must be one of {HUMAN_OVERRIDES}, got "
                                   f"{self.human_override!r}")


def has_return(episode) -> bool:
    return episode.outcome in (OUTCOME_SUCCESS, OUTCOME_FAILURE)


def labelled_subset(data: TrainingData) -> tuple[TrainingData, int]:
    """The episodes that can carry labels (success/failure) and how many were left out."""
    keep = [i for i, e in enumerate(data.episodes) if has_return(e)]
    subset = TrainingData([data.episodes[i] for i in keep], [data.is_demo[i] for i in keep],
                          data.skipped, data.demo_folders, data.rollout_folders, data.hand)
    return subset, len(data.episodes) - len(keep)


def train_critics(config: CriticTrainConfig, out_dir: Path, demo_folders=(), rollout_folders=(),
                  progress: bool = True, hand: HandDescription | None = None) -> dict:
    """Cross-fit the two critics; returns the training.json summary."""
    start = time.perf_counter()
    data, excluded = labelled_subset(load_training_data(demo_folders, rollout_folders,
                                                        progress=progress, hand=hand))
    if not data.episodes:
        raise DatasetError("no episode with a success/failure outcome to train a critic on")
    config = dataclasses.replace(config, use_object_state=object_state_wanted(config.use_object_state, data))
    # L: the config's when set, else the hand description's episode step limit.
    steps_limit = config.max_episode_steps or data.hand.max_episode_steps
    returns = ReturnConfig(steps_limit, config.failure_penalty, config.failure_decay)
    episodes = [critic_episode(e, returns, config.use_object_state, config.cameras)
                for e in data.episodes]
    first = episodes[0]
    image_fields = {}
    if config.cameras:
        frames = first.images[config.cameras[0]]
        image_fields = dict(image_size=tuple(frames.shape[1:3]), image_channels=frames.shape[3])
    critic_config = CriticConfig(
        state_dim=first.joint_positions.shape[1],
        object_dim=0 if first.object_state is None else first.object_state.shape[1],
        camera_names=config.cameras, hidden_size=config.hidden_size,
        num_layers=config.num_layers, num_bins=config.num_bins,
        target_sigma_bins=config.target_sigma_bins, **image_fields)
    result = cross_fit_values(episodes, critic_config, config.steps, config.batch_size,
                              config.learning_rate, config.seed, progress,
                              observation_noise=config.observation_noise)
    out_dir = Path(out_dir)
    for index, name in enumerate(CRITIC_DIRS):
        save_critic(out_dir / name, result.critics[index], metadata=dict(
            returns=returns.to_dict(), trained_on=sorted(result.halves[index]),
            use_object_state=config.use_object_state, cameras=list(config.cameras),
            task=data.task, hand=data.hand.to_dict()))
    with open(out_dir / "losses.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", *(f"loss_{n}" for n in CRITIC_DIRS)])
        writer.writerows(zip(range(config.steps), *result.losses))
    save_loss_curves({n: result.losses[i] for i, n in enumerate(CRITIC_DIRS)},
                     out_dir / "loss.png", f"critics {data.task}", ylabel="cross-entropy")
    plot_value_curves(result.values, episodes, out_dir / "values.png")
    ranking = ranking_accuracy(result.values, episodes)
    summary = dict(
        kind="critic", method="critic", task=data.task, config=config_to_dict(config),
        critic_config=critic_config.to_dict(), returns=returns.to_dict(), **data.summary(),
        episodes=len(episodes), episodes_without_outcome=excluded,
        halves=[sorted(h) for h in result.halves],
        diagnostics=dict(ranking_accuracy=ranking.accuracy, ranking_pairs=ranking.num_pairs,
                         ranking_same_stage=ranking.same_stage,
                         value_target_correlation=value_target_correlation(result.values,
                                                                           episodes)),
        final_losses=[float(np.mean(losses[-100:])) for losses in result.losses],
        seconds=time.perf_counter() - start)
    (out_dir / "training.json").write_text(json.dumps(summary, indent=2))
    return summary


def label_episodes(critic_dir: Path, labels_dir: Path, label_set: str, config: LabelConfig,
                   demo_folders=(), rollout_folders=(), progress: bool = True,
                   hand: HandDescription | None = None) -> dict:
    """Value (held out), advantage and indicators of every episode, saved with the dataset."""
    critics, metadata = zip(*(load_critic(Path(critic_dir) / n) for n in CRITIC_DIRS))
    meta = metadata[0]
    returns = ReturnConfig(**meta["returns"])
    data, excluded = labelled_subset(load_training_data(demo_folders, rollout_folders,
                                                        progress=progress, hand=hand))
    if not data.episodes:
        raise DatasetError("no episode with a success/failure outcome to label")
    values, not_cross_fitted = {}, []
    for episode in data.episodes:
        critic_input = critic_episode(episode, returns, meta["use_object_state"],
                                      tuple(meta["cameras"]))
        seen_by = [i for i, m in enumerate(metadata) if episode.episode_id in m["trained_on"]]
        if len(seen_by) == 1:
            values[episode.episode_id] = critics[1 - seen_by[0]].episode_values(critic_input)
        else:
            not_cross_fitted.append(episode.episode_id)
            values[episode.episode_id] = np.mean(
                [c.episode_values(critic_input) for c in critics], axis=0)
    labels = label_dataset(values, {e.episode_id: e.intervention for e in data.episodes},
                           config.horizon, returns,
                           critic_checkpoints=[str(Path(critic_dir) / n) for n in CRITIC_DIRS],
                           extra=dict(not_cross_fitted=not_cross_fitted,
                                      demo_folders=[str(f) for f in data.demo_folders],
                                      rollout_folders=[str(f) for f in data.rollout_folders]),
                           human_override=config.human_override,
                           successes={e.episode_id: e.success for e in data.episodes})
    path = save_labels(labels_dir, label_set, labels)
    plot_label_histograms(labels, path.with_name(f"{label_set}_histograms.png"))
    return dict(labels=str(path), episodes=len(labels.episodes),
                human_override=config.human_override,
                episodes_without_outcome=excluded, not_cross_fitted=not_cross_fitted,
                indicator=labels.indicator.to_dict(), skipped_bags=[str(e) for e in data.skipped],
                human_effort=data.effort())


def load_method_labels(labels_dir: Path, label_set: str, data: TrainingData):
    """The label set for exactly the labelable episodes of `data` -> (labels, subset, source
    dict for training.json, number of episodes left out for lack of an outcome)."""
    subset, excluded = labelled_subset(data)
    labels = load_labels(labels_dir, label_set,
                         episode_lengths={e.episode_id: e.num_ticks for e in subset.episodes})
    source = dict(labels_dir=str(labels_dir), label_set=label_set, horizon=labels.horizon,
                  indicator=labels.indicator.to_dict(),
                  critic_checkpoints=list(labels.critic_checkpoints),
                  episodes_without_outcome=excluded)
    return labels, subset, source
