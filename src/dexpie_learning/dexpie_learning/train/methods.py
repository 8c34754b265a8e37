"""Policy training for every method, on the same data (demos + rollouts) and the same loop.

    method            data and per-sample weight                          condition s_t
    bc                demos, 1                                            none
    hg-dagger         demos + human ticks of rollouts, 1 (policy ticks 0) none
    iwr               all, human / policy classes balanced (weighting.py) none
    filtered-bc       successful episodes, 1                              none
    awr               all, min(exp(A / T), w_max) normalised              none
    binary-indicator  all, 1                                              binary b_t (labels)
    policy (DexPIE)   all, 1                                              continuous s_t

Conditioned policies drop s to the learned null with p = optimality_dropout in training and
are deployed with s = deploy_optimality (1) and classifier-free guidance cfg_scale.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dexpie_common.hand import HandDescription
from dexpie_learning.datasets import DatasetError, to_episode_arrays
from dexpie_learning.train import weighting
from dexpie_learning.train.config import (AWRConfig, BCConfig, BinaryIndicatorConfig,
                                          FilteredBCConfig, HGDaggerConfig,
                                          HGDaggerSuccessConfig,
                                          IndicatorPolicyConfig, IWRConfig, PolicyTrainConfig,
                                          config_to_dict)
from dexpie_learning.train.critic_label import (DEFAULT_LABEL_SET, labelled_subset,
                                                load_method_labels)
from dexpie_learning.train.data import (TrainingData, load_training_data, object_state_wanted,
                                        select_demonstrations)
from dexpie_learning.train.loop import data_fingerprint, train_resumable
from dexpie_learning.train.plots import save_loss_curve
from dexpie_policy.actions.spec import ActionSpec, ActionSpecError, hand_action_spec
from dexpie_policy.checkpoint import save_policy
from dexpie_policy.chunk_dataset import ChunkDataset

log = logging.getLogger(__name__)

POLICY_METHODS = {"bc": BCConfig, "hg-dagger": HGDaggerConfig,
                  "hg-dagger-success": HGDaggerSuccessConfig, "iwr": IWRConfig,
                  "filtered-bc": FilteredBCConfig, "awr": AWRConfig,
                  "binary-indicator": BinaryIndicatorConfig, "policy": IndicatorPolicyConfig}
# The methods compared with the reference; DexPIE first: when time runs out, the cells that
# matter most are the ones already done.
METHODS = ("policy", "hg-dagger", "iwr", "filtered-bc", "binary-indicator", "awr",
           "hg-dagger-success")
REFERENCE = "bc"
LABELLED_METHODS = ("awr", "binary-indicator", "policy")
CONDITIONED_METHODS = ("binary-indicator", "policy")


@dataclass
class TrainResult:
    checkpoint: Path
    losses: list[float]
    episodes: int           # episodes with at least one sample of positive weight
    samples: int            # samples of those episodes
    skipped_bags: list[str]
    seconds: float
    human_effort: dict = dataclasses.field(default_factory=dict)
    resumed_from: int = 0


def action_spec_for(data: TrainingData, config: PolicyTrainConfig) -> ActionSpec:
    """The action groups of the data's hand description, with the config's arm / finger
    representation where it sets one."""
    try:
        return hand_action_spec(data.hand, config.arm_representation,
                                config.finger_representation)
    except ActionSpecError as error:
        raise DatasetError(f"hand {data.hand.name!r}: {error}") from None


def method_weights(method: str, config: PolicyTrainConfig, data: TrainingData, labels=None
                   ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Per episode: sample weights (T,) and, for conditioned methods, the indicator (T,).
    `labels` (dexpie_learning.labels.DatasetLabels) is required by LABELLED_METHODS."""
    episodes = data.episodes
    interventions = [e.intervention for e in episodes]
    ones = [np.ones(e.num_ticks) for e in episodes]
    if method in LABELLED_METHODS:
        if labels is None:
            raise DatasetError(f"{method} needs labels (--labels): run `train critic` and "
                               "`train label` first")
        per_episode = [labels.episodes[e.episode_id] for e in episodes]
    if method == "bc":
        return [w * demo for w, demo in zip(ones, data.is_demo)], None
    if method == "hg-dagger":
        return weighting.hg_dagger_weights(interventions, data.is_demo), None
    if method == "hg-dagger-success":
        return weighting.hg_dagger_success_weights(interventions, data.is_demo,
                                                   [e.success for e in episodes]), None
    if method == "iwr":
        return weighting.iwr_weights(interventions, data.is_demo,
                                     config.human_to_policy_weight_ratio), None
    if method == "filtered-bc":
        return weighting.filtered_bc_weights([e.num_ticks for e in episodes],
                                             [e.success for e in episodes]), None
    if method == "awr":
        return weighting.awr_weights([lab.advantages for lab in per_episode],
                                     config.awr_temperature, config.max_weight), None
    if method == "binary-indicator":
        return ones, [lab.binary_indicator for lab in per_episode]
    if method == "policy":
        return ones, [lab.optimality for lab in per_episode]
    raise ValueError(f"unknown method {method!r} (known: {list(POLICY_METHODS)})")


def epoch_steps(epochs: int, samples: int, batch_size: int) -> int:
    """Optimisation steps for `epochs` passes over `samples` in batches of `batch_size`."""
    return max(1, math.ceil(epochs * samples / batch_size))


def train_method(method: str, config: PolicyTrainConfig, out_dir: Path,
                 demo_folders: list[Path] = (), rollout_folders: list[Path] = (),
                 labels_dir: Path | None = None, label_set: str = DEFAULT_LABEL_SET,
                 labels=None, progress: bool = True,
                 resume: str = "auto", stop_after: int | None = None,
                 torch_threads: int | None = None, data: TrainingData | None = None,
                 device: str = "cpu", weigh=None, hand: HandDescription | None = None
                 ) -> TrainResult:
    """Load the bags (unless `data` is given), weight/label them for `method`, train with
    resumable state in <out>/train_state, write the policy checkpoint, metrics.csv,
    losses.csv, loss.png and training.json.

    Labelled methods read <labels_dir>/labels/<label_set>.* (or take `labels`, a
    DatasetLabels, directly) and train on the episodes with a success/failure outcome.

    torch_threads: intra-op threads while training (default: all cores). Set explicitly and
    restored afterwards, because a PolicyRunner loaded earlier in the process pins torch to
    one thread (right for batch-1 inference, 2x slower for training). device: where the
    optimisation runs ("cpu", "cuda"); the checkpoint is the same format either way.
    hand: the hand description for bags recorded without one (`train --hand FILE`).
    weigh: replaces `method_weights` (same signature and return) for studies of other data
    weightings on the same pipeline (benchmarks/label_variants.py); None: the method's own.
    """
    if not isinstance(config, POLICY_METHODS.get(method, ())):
        raise ValueError(f"{method} takes a {POLICY_METHODS[method].__name__}, got "
                         f"{type(config).__name__}" if method in POLICY_METHODS
                         else f"unknown method {method!r} (known: {list(POLICY_METHODS)})")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(torch_threads or os.cpu_count() or 1)
    try:
        return _train_method(method, config, Path(out_dir), demo_folders, rollout_folders,
                             labels_dir, label_set, labels, progress, resume, stop_after,
                             data, device, weigh or method_weights, hand)
    finally:
        torch.set_num_threads(previous_threads)


def _train_method(method, config, out_dir, demo_folders, rollout_folders, labels_dir,
                  label_set, labels, progress, resume, stop_after, data, device,
                  weigh, hand) -> TrainResult:
    start = time.perf_counter()
    if data is None:
        data = load_training_data(demo_folders, rollout_folders, progress=progress, hand=hand)
    config = dataclasses.replace(config, use_object_state=object_state_wanted(config.use_object_state, data))
    labels_source = None
    if method in LABELLED_METHODS:
        if labels is None:
            if labels_dir is None:
                raise DatasetError(f"{method} needs labels (--labels): run `train critic` "
                                   "and `train label` first")
            labels, data, labels_source = load_method_labels(labels_dir, label_set, data)
        else:
            data, excluded = labelled_subset(data)
            labels_source = dict(labels_dir=None, horizon=labels.horizon,
                                 indicator=labels.indicator.to_dict(),
                                 episodes_without_outcome=excluded)
    # Every attempt costs the human, kept or not: the effort is counted before selection.
    effort = data.effort()
    demos_loaded = sum(data.is_demo)
    data, demos_dropped = select_demonstrations(data, config.demonstrations)
    dropped = (f"; {demos_dropped} of {demos_loaded} demonstrations were dropped as failed "
               f"(demonstrations={config.demonstrations!r})" if demos_dropped else "")
    if demos_dropped:
        log.info("%s: %s", method, dropped[2:])
    if not data.episodes:
        raise DatasetError(f"{method}: no episode to train on{dropped}")
    task = data.task
    if labels is not None and labels.horizon != config.horizon:
        raise DatasetError(f"labels were made for chunk windows of H={labels.horizon}, the "
                           f"policy has horizon {config.horizon}")
    weights, optimality = weigh(method, config, data, labels)
    keep = [i for i, w in enumerate(weights) if np.any(w > 0)]
    if not keep:
        raise DatasetError(f"{method}: no sample to train on (no demos / interventions / "
                           f"successes in the data?){dropped}")
    spec = action_spec_for(data, config)
    arrays = [dataclasses.replace(
        to_episode_arrays(data.episodes[i], config.use_object_state, config.cameras,
                          None if optimality is None else optimality[i]),
        sample_weight=weights[i]) for i in keep]
    dataset = ChunkDataset(arrays, spec, config.horizon)
    conditioned = method in CONDITIONED_METHODS
    policy_overrides = dict(optimality_conditioning=conditioned, hidden_size=config.hidden_size,
                            num_layers=config.num_layers, max_delay_steps=config.max_delay_steps)
    if conditioned:
        policy_overrides["optimality_dropout"] = config.optimality_dropout
        policy_overrides["optimality_embedding_scale"] = config.optimality_embedding_scale
    policy_config = dataset.policy_config(**policy_overrides)
    if config.epochs:   # the same number of passes over each method's own data
        trained = int((dataset.sample_weight > 0).sum())
        config = dataclasses.replace(config, steps=epoch_steps(config.epochs, trained,
                                                               config.batch_size))
    kept_ids = [data.episodes[i].episode_id for i in keep]
    loop = train_resumable(dataset, policy_config, config, out_dir,
                           data_fingerprint(dataset, kept_ids), resume=resume,
                           progress=progress, stop_after=stop_after, device=device)
    save_policy(out_dir, loop.model, dataset.stats, spec, hand=data.hand)
    title = f"{method} {task}: {len(keep)} episodes, {effort['human_steps']} human steps"
    write_training_log(out_dir, loop.metrics, title)
    positive = dataset.sample_weight > 0
    summary = dict(
        kind=method, method=method, task=task, hand=data.hand.name, config=config_to_dict(config),
        policy_config=policy_config.to_dict(),
        **(data.summary() | dict(human_effort=effort, demo_episodes_loaded=demos_loaded,
                                  demo_episodes_dropped=demos_dropped)),
        episodes=len(keep), episodes_loaded=len(data.episodes), samples=len(dataset),
        samples_trained=int(positive.sum()),
        sample_weight=dict(min=float(dataset.sample_weight[positive].min()),
                           max=float(dataset.sample_weight.max()),
                           mean=float(dataset.sample_weight.mean())),
        labels=labels_source, steps_done=len(loop.losses), resumed_from=loop.resumed_from,
        final_loss=float(np.mean(loop.losses[-100:])) if loop.losses else None,
        seconds=time.perf_counter() - start)
    if conditioned:
        summary["deployment"] = dict(optimality=config.deploy_optimality,
                                     cfg_scale=config.cfg_scale)
    (out_dir / "training.json").write_text(json.dumps(summary, indent=2))
    return TrainResult(out_dir, loop.losses, len(keep), len(dataset), summary["skipped_bags"],
                       summary["seconds"], effort, loop.resumed_from)


def write_training_log(out_dir: Path, metrics: list[dict], title: str) -> None:
    """metrics.csv (step, loss, lr, samples_per_s), losses.csv (step, loss) and loss.png."""
    out_dir = Path(out_dir)
    with open(out_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["step", "loss", "lr", "samples_per_s"])
        writer.writeheader()
        writer.writerows(metrics)
    with open(out_dir / "losses.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "loss"])
        writer.writerows((row["step"], row["loss"]) for row in metrics)
    if metrics:
        save_loss_curve([row["loss"] for row in metrics], out_dir / "loss.png", title)
