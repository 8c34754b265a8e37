"""The resumable policy-training loop shared by every method.

Every N steps (and at the last step) the loop writes `<out>/train_state/`:

    model.safetensors      the policy's state dict
    ema.safetensors        the weight average's state dict (when ema_decay > 0)
    optimizer.safetensors  AdamW's per-parameter state, flattened: "<param index>.<name>"
                           (exp_avg, exp_avg_sq, step); hyperparameters come from the config
    state.json             step, seed, config, data fingerprint, losses and metrics so far

never pickle. Resuming gives the same final model as an uninterrupted run because nothing
random is carried from step to step: the batch indices and the model's noise / delays /
indicator dropout of step k are drawn from generators seeded by (seed, k) alone.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from dexpie_learning.train.config import PolicyTrainConfig, config_to_dict
from dexpie_learning.train.schedule import WeightAverage, learning_rate_at
from dexpie_policy.chunk_dataset import ChunkDataset, make_training_batch
from dexpie_policy.flow import FlowMatchingPolicy, FlowPolicyConfig
from dexpie_policy.normalization import NormalizationStats
from dexpie_policy.torch_device import check_torch_device

log = logging.getLogger(__name__)

STATE_DIR = "train_state"
STATE_VERSION = 2
METRIC_FIELDS = ("step", "loss", "lr", "samples_per_s")


class ResumeError(ValueError):
    """A training state that cannot be resumed; the message says why."""


@dataclass
class LoopResult:
    model: FlowMatchingPolicy
    losses: list[float]
    metrics: list[dict] = field(default_factory=list)   # one row per step (METRIC_FIELDS)
    resumed_from: int = 0


def step_generators(seed: int, step: int, device: str = "cpu"
                    ) -> tuple[np.random.Generator, torch.Generator]:
    """The batch-index RNG and the model's torch generator (on `device`) of step `step`."""
    sequence = np.random.SeedSequence([seed, step])
    torch_seed = int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    return (np.random.default_rng(sequence),
            torch.Generator(device=device).manual_seed(torch_seed))


def training_device(device: str) -> torch.device:
    """`device` checked: "cpu", "cuda" or "cuda:<k>" that this machine has."""
    return check_torch_device(device)


def data_fingerprint(dataset: ChunkDataset, episode_ids: list[str]) -> dict:
    """What a state must have been trained on to be resumed: episodes, samples, weights."""
    weights = dataset.sample_weight
    optimality = np.nan_to_num(dataset.optimality, nan=-1.0)
    return dict(episodes=len(episode_ids), samples=len(dataset),
                episode_ids_hash=_hash_strings(episode_ids),
                weight_sum=round(float(weights.sum()), 6),
                optimality_sum=round(float(optimality.sum()), 6))


def _hash_strings(values: list[str]) -> str:
    import hashlib
    return hashlib.sha256("\n".join(values).encode()).hexdigest()[:16]


def train_resumable(dataset: ChunkDataset, policy_config: FlowPolicyConfig,
                    config: PolicyTrainConfig, out_dir: Path, fingerprint: dict,
                    stats: NormalizationStats | None = None, resume: str = "auto",
                    progress: bool = True, stop_after: int | None = None,
                    device: str = "cpu") -> LoopResult:
    """Train (or continue training) a policy; returns the model to save, in eval mode: the
    weight average when config.ema_decay > 0, else the last iterate.

    resume: "auto" continues from <out>/train_state when its config and data fingerprint
    match (a state that does not match is reported and replaced), "always" requires a
    matching state, "never" ignores any state. stop_after: stop after this many total steps (to test and
    to split long runs); the state is saved there. device: where the optimisation runs
    ("cpu", "cuda"); the returned model is on the CPU either way. The same seed gives the
    same model on the same device; CPU and CUDA draw different noise.
    """
    device = training_device(device)
    if resume not in ("auto", "always", "never"):
        raise ValueError(f"resume must be auto, always or never, got {resume!r}")
    dataset.check_matches(policy_config)
    stats = dataset.stats if stats is None else stats
    stats.validate(policy_config.feature_shapes())
    candidates = np.flatnonzero(dataset.sample_weight > 0)
    if len(candidates) == 0:
        raise ValueError("every sample has weight 0: nothing to train on")
    state_dir = Path(out_dir) / STATE_DIR
    identity = dict(config=config_to_dict(config), policy_config=policy_config.to_dict(),
                    data=fingerprint)

    torch.manual_seed(config.seed)
    model = FlowMatchingPolicy(policy_config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    average = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 else None
    losses, metrics, start = [], [], 0
    if resume != "never" and (state_dir / "state.json").is_file():
        try:
            start, losses, metrics = load_state(state_dir, identity, model, optimizer, average)
            log.info("resuming from step %d of %d (%s)", start, config.steps, state_dir)
        except ResumeError as error:
            if resume == "always":
                raise
            # auto: a state of another config or data set is not ours to continue; it is
            # replaced at the first save.
            log.warning("not resuming: %s; training from scratch", error)
    elif resume == "always":
        raise ResumeError(f"--resume: no training state in {state_dir}")

    end = config.steps if stop_after is None else min(config.steps, stop_after)
    batch_size = min(config.batch_size, len(candidates))
    model.train()
    bar = tqdm(range(start, end), desc="train policy", disable=not progress, leave=False,
               initial=start, total=end)
    for step in bar:
        tick = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(config, step)
        index_rng, generator = step_generators(config.seed, step, device.type)
        indices = candidates[index_rng.integers(0, len(candidates), size=batch_size)]
        batch = make_training_batch(dataset, indices, stats, config.padded_step_weight)
        if device.type != "cpu":
            batch = {name: value.to(device, non_blocking=True) for name, value in batch.items()}
        loss = model.compute_loss(batch, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
        optimizer.step()
        if average is not None:
            average.update(model, step)
        losses.append(loss.item())
        seconds = time.perf_counter() - tick
        metrics.append(dict(step=step, loss=losses[-1], lr=optimizer.param_groups[0]["lr"],
                            samples_per_s=batch_size / max(seconds, 1e-9)))
        if progress:
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        if (step + 1) % config.save_every == 0 or step + 1 == end:
            save_state(state_dir, identity, step + 1, model, optimizer, losses, metrics,
                       average)
    bar.close()
    final = model.eval() if average is None else average.model
    return LoopResult(final.cpu(), losses, metrics, resumed_from=start)


def save_state(state_dir: Path, identity: dict, step: int, model: torch.nn.Module,
               optimizer: torch.optim.Optimizer, losses: list[float], metrics: list[dict],
               average: WeightAverage | None = None) -> None:
    """Write the state to a sibling folder, then swap it in: a crash mid-write leaves the
    previous state intact."""
    tmp = state_dir.with_name(state_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()},
              str(tmp / "model.safetensors"))
    save_file(flatten_optimizer_state(optimizer), str(tmp / "optimizer.safetensors"))
    if average is not None:
        save_file({k: v.detach().cpu().contiguous().clone()
                   for k, v in average.model.state_dict().items()}, str(tmp / "ema.safetensors"))
    (tmp / "state.json").write_text(json.dumps(dict(
        version=STATE_VERSION, step=step, **identity, losses=losses, metrics=metrics,
        rng="numpy SeedSequence([seed, step]) per step; nothing carried between steps")))
    old = state_dir.with_name(state_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if state_dir.exists():
        state_dir.rename(old)
    tmp.rename(state_dir)
    shutil.rmtree(old, ignore_errors=True)


def load_state(state_dir: Path, identity: dict, model: torch.nn.Module,
               optimizer: torch.optim.Optimizer, average: WeightAverage | None = None
               ) -> tuple[int, list[float], list[dict]]:
    """Restore model, optimizer and weight average in place; returns (step, losses, metrics)."""
    try:
        state = json.loads((state_dir / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ResumeError(f"{state_dir}/state.json: unreadable ({error})") from None
    if state.get("version") != STATE_VERSION:
        raise ResumeError(f"{state_dir}: state version {state.get('version')!r}, this code "
                          f"reads {STATE_VERSION}")
    for key in ("config", "policy_config", "data"):
        if state.get(key) != identity[key]:
            differing = _differing_keys(state.get(key) or {}, identity[key])
            raise ResumeError(
                f"{state_dir} holds a training state with a different {key} (differs in "
                f"{differing})")
    try:
        weights = load_file(str(state_dir / "model.safetensors"))
        optimizer_state = load_file(str(state_dir / "optimizer.safetensors"))
        averaged = None if average is None else load_file(str(state_dir / "ema.safetensors"))
    except Exception as error:   # safetensors raises its own error types
        raise ResumeError(f"{state_dir}: unreadable state files ({error})") from None
    model.load_state_dict(weights, strict=True)
    if average is not None:
        average.model.load_state_dict(averaged, strict=True)
    restore_optimizer_state(optimizer, optimizer_state)
    step = int(state["step"])
    return step, list(state["losses"])[:step], list(state["metrics"])[:step]


def _differing_keys(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def flatten_optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """{param index: {name: tensor}} -> {"<index>.<name>": tensor} for safetensors."""
    flat = {}
    for index, entries in optimizer.state_dict()["state"].items():
        for name, value in entries.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            flat[f"{index}.{name}"] = tensor.detach().contiguous().clone()
    return flat


def restore_optimizer_state(optimizer: torch.optim.Optimizer,
                            flat: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in flat.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor
    current = optimizer.state_dict()
    expected = {i for group in current["param_groups"] for i in group["params"]}
    if not set(state) <= expected:
        raise ResumeError(f"optimizer state names parameters {sorted(set(state) - expected)} "
                          f"the model does not have")
    optimizer.load_state_dict({"state": state, "param_groups": current["param_groups"]})
