"""Behaviour cloning of the reference policy from demonstration bags.

The BC reference is the chunked flow policy without the optimality condition, trained on
operator demonstrations in the relative action space with training-time real-time chunking
(delays d ~ U{0..max_delay_steps}), so it runs asynchronously like every later policy.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from dexpie_learning.datasets import (DatasetError, check_consistent, load_episode_folders,
                                      to_episode_arrays)
from dexpie_learning.train.plots import save_loss_curve
from dexpie_policy.actions.spec import REPRESENTATIONS, twin_action_spec
from dexpie_policy.checkpoint import save_policy
from dexpie_policy.runner import ChunkDataset, train_policy


@dataclass(frozen=True)
class BCConfig:
    """Training settings (validated; every field is saved with the checkpoint)."""
    horizon: int = 16
    steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 3e-4
    seed: int = 0
    hidden_size: int = 512
    num_layers: int = 3
    max_delay_steps: int = 4
    arm_representation: str = "relative_joint"
    finger_representation: str = "absolute_joint"
    use_object_state: bool = True
    cameras: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "cameras", tuple(self.cameras))
        for name in ("horizon", "steps", "batch_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.max_delay_steps < self.horizon:
            raise ValueError(f"max_delay_steps must be in [0, horizon), got {self.max_delay_steps}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        for name in ("arm_representation", "finger_representation"):
            if getattr(self, name) not in REPRESENTATIONS:
                raise ValueError(f"{name} must be one of {REPRESENTATIONS}, got {getattr(self, name)!r}")


@dataclass
class TrainResult:
    checkpoint: Path
    losses: list[float]
    episodes: int
    samples: int
    skipped_bags: list[str]
    seconds: float


def action_spec_for(task: str, joint_names: tuple[str, ...], config: BCConfig):
    """Arm (spacemouse) and finger (glove) groups of the task's joints."""
    from dexpie_sim.registry import TASK_NAMES, task_spec
    if task not in TASK_NAMES:
        raise DatasetError(f"task {task!r} is not a twin task ({list(TASK_NAMES)}); "
                           "its arm/finger joint groups are unknown")
    spec = task_spec(task)
    if tuple(joint_names) != spec.joint_names:
        raise DatasetError(f"episodes of task {task!r} name joints {list(joint_names)[:3]}..., "
                           f"the task has {list(spec.joint_names)[:3]}...")
    return twin_action_spec(spec.arm_joints, spec.finger_joints, config.arm_representation,
                            config.finger_representation)


def train_bc(demo_folders: list[Path], out_dir: Path, config: BCConfig = BCConfig(),
             progress: bool = True, torch_threads: int | None = None) -> TrainResult:
    """Train on every readable bag of `demo_folders`; write the checkpoint, loss CSV and PNG.

    torch_threads: intra-op threads while training (default: all cores). Set explicitly and
    restored afterwards, because a PolicyRunner loaded earlier in the process pins torch to
    one thread (right for batch-1 inference, 2x slower for training).
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(torch_threads or os.cpu_count() or 1)
    try:
        return _train_bc(demo_folders, out_dir, config, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train_bc(demo_folders: list[Path], out_dir: Path, config: BCConfig, progress: bool) -> TrainResult:
    start = time.perf_counter()
    episodes, errors = load_episode_folders(demo_folders, progress=progress)
    check_consistent(episodes)
    tasks = sorted({e.task for e in episodes})
    if len(tasks) != 1:
        raise DatasetError(f"one policy per task: the folders hold episodes of {tasks}")
    spec = action_spec_for(tasks[0], episodes[0].joint_names, config)
    arrays = [to_episode_arrays(e, config.use_object_state, config.cameras) for e in episodes]
    dataset = ChunkDataset(arrays, spec, config.horizon)
    policy_config = dataset.policy_config(optimality_conditioning=False, hidden_size=config.hidden_size,
                                          num_layers=config.num_layers,
                                          max_delay_steps=config.max_delay_steps)
    model, losses = train_policy(dataset, policy_config, steps=config.steps,
                                 batch_size=config.batch_size, lr=config.learning_rate,
                                 seed=config.seed, progress=progress)
    out_dir = Path(out_dir)
    save_policy(out_dir, model, dataset.stats, spec)
    write_training_log(out_dir, losses, title=f"BC {tasks[0]}: {len(episodes)} demos")
    summary = dict(kind="bc", task=tasks[0], config=dataclasses.asdict(config),
                   demo_folders=[str(f) for f in demo_folders], episodes=len(episodes),
                   samples=len(dataset), skipped_bags=[str(e) for e in errors],
                   final_loss=sum(losses[-100:]) / len(losses[-100:]),
                   seconds=time.perf_counter() - start)
    (out_dir / "training.json").write_text(json.dumps(summary, indent=2))
    return TrainResult(out_dir, losses, len(episodes), len(dataset), summary["skipped_bags"],
                       summary["seconds"])


def write_training_log(out_dir: Path, losses: list[float], title: str) -> None:
    with open(out_dir / "losses.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "loss"])
        writer.writerows(enumerate(losses))
    save_loss_curve(losses, out_dir / "loss.png", title)
