"""Behaviour cloning of the reference policy from demonstration bags.

The BC reference is the chunked flow policy without the optimality condition, trained on
operator demonstrations in the relative action space with training-time real-time chunking
(delays d ~ U{0..max_delay_steps}), so it runs asynchronously like every later policy. It is
the `bc` method of `methods.train_method` (resumable, metrics, training.json); this module
keeps the entry point the main job and the benchmarks call.
"""
from __future__ import annotations

from pathlib import Path

from dexpie_learning.train.config import BCConfig
from dexpie_learning.train.methods import TrainResult, action_spec_for, train_method

__all__ = ["BCConfig", "TrainResult", "action_spec_for", "train_bc"]


def train_bc(demo_folders: list[Path], out_dir: Path, config: BCConfig = BCConfig(),
             progress: bool = True, torch_threads: int | None = None,
             resume: str = "auto") -> TrainResult:
    """Train on every readable bag of `demo_folders` (unreadable bags are reported in
    training.json and skipped); write the checkpoint, metrics/loss CSV and PNG."""
    return train_method("bc", config, out_dir, demo_folders=demo_folders, progress=progress,
                        resume=resume, torch_threads=torch_threads)
