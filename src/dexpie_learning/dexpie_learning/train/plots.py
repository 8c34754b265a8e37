"""Training curves as PNG (matplotlib, headless)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, len(values)))
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def save_loss_curve(losses: list[float], path: Path, title: str,
                    ylabel: str = "flow-matching loss") -> Path:
    """One run's loss per step (grey) and its moving mean (blue), log scale."""
    return save_loss_curves({"": losses}, path, title, ylabel)


def save_loss_curves(curves: dict[str, list[float]], path: Path, title: str,
                     ylabel: str = "flow-matching loss") -> Path:
    """Several runs (name -> loss per step) on one plot; each with its moving mean of
    ~1/50 of the run. Losses <= 0 are left out of the log-scale axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    log_scale = True
    for number, (name, losses) in enumerate(curves.items()):
        losses = np.asarray(losses, dtype=float)
        if len(losses) == 0:
            continue
        log_scale &= bool(np.all(losses > 0))
        prefix = f"{name}: " if name else ""
        ax.plot(np.arange(len(losses)), losses, color=f"C{number}", alpha=0.25, linewidth=0.6,
                label=f"{prefix}per step")
        window = max(1, len(losses) // 50)
        smooth = moving_average(losses, window)
        ax.plot(np.arange(len(smooth)) + window - 1, smooth, color=f"C{number}",
                label=f"{prefix}mean of {window}")
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
