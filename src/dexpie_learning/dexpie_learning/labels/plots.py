"""Histograms of a label set (PNG, headless matplotlib)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dexpie_learning.labels.labelling import DatasetLabels


def plot_label_histograms(labels: DatasetLabels, path: str | Path, bins: int = 60) -> Path:
    """Two panels: advantages A_t and continuous indicator s_t, each as a stacked histogram
    of policy/mixed windows vs fully human windows (forced s = 1), with q_0.6 and q_0.8
    marked on the advantages."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    episodes = [labels.episodes[i] for i in labels.episode_ids]
    human = np.concatenate([e.human_window for e in episodes])
    advantages = np.concatenate([e.advantages for e in episodes])
    optimality = np.concatenate([e.optimality for e in episodes])
    binary_share = float(np.concatenate([e.binary_indicator for e in episodes]).mean())
    fig, (ax_a, ax_s) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    names = [f"policy or mixed window (n={int((~human).sum())})",
             f"fully human window (n={int(human.sum())})"]
    colors = ["C0", "C1"]
    ax_a.hist([advantages[~human], advantages[human]], bins=bins, stacked=True, color=colors,
              label=names)
    p = labels.indicator
    for q, style, text in ((p.q_low, "--", "q_0.6"), (p.q_high, ":", "q_0.8")):
        ax_a.axvline(q, color="k", linestyle=style, linewidth=1, label=f"{text} = {q:.4f}")
    ax_a.set_xlabel("advantage A_t")
    ax_a.set_ylabel("steps")
    ax_a.set_title(f"advantages (H={labels.horizon}, L={labels.returns.max_episode_steps})")
    ax_a.legend(fontsize=7)
    ax_s.hist([optimality[~human], optimality[human]], bins=np.linspace(0, 1, 41),
              stacked=True, color=colors, label=names)
    ax_s.set_xlabel("optimality indicator s_t")
    ax_s.set_title(f"continuous indicator (β={p.beta:.2e}; binary: {binary_share:.0%} ones)")
    ax_s.legend(fontsize=7)
    for ax in (ax_a, ax_s):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
