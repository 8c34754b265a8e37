"""Is the critic any good? Held-out ranking accuracy, value/target correlation, value curves.

All functions take per-step values of HELD-OUT episodes (e.g. `CrossFitResult.values`,
where each episode is valued by the critic that did not train on it) and the episodes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexpie_learning.critic.data import CriticEpisode


@dataclass(frozen=True)
class RankingResult:
    """accuracy: fraction of (successful, failed) pairs ranked right (ties count half), NaN
    without any pair. num_pairs: pairs counted. same_stage: True when the pairs were
    formed within start stages, False when no stage had both outcomes and all pairs
    across stages were used. stages: the stages that contributed pairs."""
    accuracy: float
    num_pairs: int
    same_stage: bool
    stages: tuple[str, ...]


def ranking_accuracy(values: dict[str, np.ndarray], episodes: list[CriticEpisode]
                     ) -> RankingResult:
    """Pairwise ranking accuracy of held-out episodes by their mean value.

    Definition: each episode's score is the mean of V(o_t) over all its steps. For every
    start stage that has at least one successful and one failed episode, take every pair
    (successful s, failed f) of that stage; a pair counts 1 if score(s) > score(f), 0.5 if
    equal, 0 otherwise; accuracy = total / number of pairs, pooled over stages (so stages
    weigh by their number of pairs). Stages with only one outcome contribute no pairs.
    Pairs are formed within a stage because episodes from a later stage are shorter and
    closer to success, which would reward a critic that only recognises the stage. If no
    stage has both outcomes, all (success, failure) pairs across stages are used instead
    and `same_stage` is False. 0.5 is chance level.
    """
    missing = [e.episode_id for e in episodes if e.episode_id not in values]
    if missing:
        raise KeyError(f"no values for episodes {missing[:5]}")
    score = {e.episode_id: float(np.mean(values[e.episode_id])) for e in episodes}
    groups: dict[str, tuple[list[float], list[float]]] = {}
    for e in episodes:
        groups.setdefault(e.stage, ([], []))[0 if e.success else 1].append(score[e.episode_id])
    paired = {stage: g for stage, g in groups.items() if g[0] and g[1]}
    same_stage = bool(paired)
    if not same_stage:
        pooled = ([s for g in groups.values() for s in g[0]],
                  [f for g in groups.values() for f in g[1]])
        paired = {"*": pooled} if pooled[0] and pooled[1] else {}
    total, pairs = 0.0, 0
    for good, bad in paired.values():
        good_scores, bad_scores = np.asarray(good)[:, None], np.asarray(bad)[None, :]
        total += float(np.sum(good_scores > bad_scores) + 0.5 * np.sum(good_scores == bad_scores))
        pairs += good_scores.size * bad_scores.size
    return RankingResult(accuracy=total / pairs if pairs else float("nan"), num_pairs=pairs,
                         same_stage=same_stage, stages=tuple(sorted(paired)))


def value_target_correlation(values: dict[str, np.ndarray], episodes: list[CriticEpisode]
                             ) -> float:
    """Pearson correlation over all steps of V(o_t) with the true normalised return target
    (NaN when either is constant)."""
    v = np.concatenate([np.asarray(values[e.episode_id], dtype=np.float64) for e in episodes])
    g = np.concatenate([e.return_target for e in episodes])
    if v.std() == 0 or g.std() == 0:
        return float("nan")
    return float(np.corrcoef(v, g)[0, 1])


def plot_value_curves(values: dict[str, np.ndarray], episodes: list[CriticEpisode],
                      path: str | Path, title: str = "held-out critic values",
                      num_individual: int = 3, grid_points: int = 50) -> Path:
    """PNG of V(o_t) against normalised time t / (T - 1): per outcome the mean and a
    +-1 std band over episodes (each curve resampled on a common grid), plus
    `num_individual` individual curves per outcome (thin lines)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0.0, 1.0, grid_points)
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=110)
    for success, color, label in ((True, "C2", "success"), (False, "C3", "failure")):
        group = [e for e in episodes if e.success == success]
        if not group:
            continue
        curves = np.stack([np.interp(grid, _normalised_time(e.num_steps),
                                     values[e.episode_id]) for e in group])
        mean, std = curves.mean(0), curves.std(0)
        ax.fill_between(grid, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
        ax.plot(grid, mean, color=color, linewidth=2, label=f"{label} mean ± std (n={len(group)})")
        for e in group[:num_individual]:
            ax.plot(_normalised_time(e.num_steps), values[e.episode_id], color=color,
                    linewidth=0.6, alpha=0.6)
    ax.set_xlabel("normalised time t / (T − 1)")
    ax.set_ylabel("V(o_t)")
    ax.set_ylim(-1.05, 0.05)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def _normalised_time(num_steps: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, num_steps) if num_steps > 1 else np.zeros(1)
