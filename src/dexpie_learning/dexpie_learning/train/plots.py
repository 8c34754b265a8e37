"""Training curves as PNG (matplotlib, headless)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, len(values)))
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def save_loss_curve(losses: list[float], path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = np.asarray(losses, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.plot(np.arange(len(losses)), losses, color="0.75", linewidth=0.6, label="per step")
    window = max(1, len(losses) // 50)
    smooth = moving_average(losses, window)
    ax.plot(np.arange(len(smooth)) + window - 1, smooth, color="C0", label=f"mean of {window}")
    ax.set_yscale("log")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("flow-matching loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
