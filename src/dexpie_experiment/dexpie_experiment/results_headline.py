"""The issue's headline numbers from the experiment's cells: each method's success averaged
over the tasks, and DexPIE's difference to the BC reference and to every other row, with
95 % intervals that count both sources of noise.

    mean over tasks  m(row) = (1/T) sum_t p(row, t),  p = successes / episodes pooled over seeds
    difference       d(row) = m(DexPIE) - m(row), on the training seeds both rows have per task

A row with fewer training seeds than DexPIE on a task (a resumable run still going) is marked
partial, its seeds are named, and it keeps the target check from passing.

Intervals: a bootstrap that resamples the training seeds of each task (with replacement;
paired for a difference, because a seed's baselines are trained on that seed's DexPIE data)
and, for each drawn seed, its success rate from the Jeffreys posterior Beta(s + 1/2,
n - s + 1/2) of its evaluation episodes (so 0/n and n/n still carry their uncertainty).
With one training seed only the episode noise is counted: seed-to-seed spread, often the
larger part here, is then invisible.
"""
from __future__ import annotations

import numpy as np

DEXPIE = "policy"
REFERENCE = "bc"
TARGET_POINTS = 0.37      # the paper's gain over the demo-only policy
# The paper's success rates (three real tasks, human operators, 50 trials per task), by row.
PAPER = {"bc": 0.500, "policy": 0.873, "hg-dagger": 0.753, "binary-indicator": 0.800}


def seed_outcomes(results: dict) -> dict[str, dict[str, dict[int, tuple[int, int]]]]:
    """row key -> task -> {training seed: (successes, episodes)} of the evaluated cells;
    DexPIE's row is its last round (as in the table)."""
    last = results["rounds"]
    outcomes: dict = {}
    for e in results["entries"]:
        if not e.get("evaluated") or (e["row"] == DEXPIE and e["round"] != last):
            continue
        outcomes.setdefault(e["row"], {}).setdefault(e["task"], {})[e["seed"]] = (
            int(e["successes"]), int(e["episodes"]))
    return outcomes


def _draws(per_seed: dict[int, tuple[int, int]], seeds: list[int], resampled: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """(B,) pooled success rates over the resampled seeds (indices into `seeds`, (B, S))."""
    successes = np.array([per_seed[s][0] for s in seeds], dtype=float)
    episodes = np.array([per_seed[s][1] for s in seeds], dtype=float)
    rates = rng.beta(successes[resampled] + 0.5, episodes[resampled] - successes[resampled] + 0.5)
    return (rates * episodes[resampled]).sum(axis=1) / episodes[resampled].sum(axis=1)


def _pooled(per_seed: dict[int, tuple[int, int]], seeds: list[int]) -> float:
    return sum(per_seed[s][0] for s in seeds) / sum(per_seed[s][1] for s in seeds)


def mean_over_tasks(outcomes: dict, rows: list[str], tasks: list[str], samples: int = 4000,
                    seed: int = 0) -> dict | None:
    """Mean over `tasks` of rows[0]'s success, or with two rows the difference rows[0] -
    rows[1] on the seeds both have; point estimate and 95 % bootstrap interval. None when a
    task has no (common) evaluated seed."""
    rng = np.random.default_rng(seed)
    point, draws = 0.0, np.zeros(samples)
    for task in tasks:
        cells = [outcomes.get(row, {}).get(task, {}) for row in rows]
        seeds = sorted(set.intersection(*(set(c) for c in cells)))
        if not seeds:
            return None
        resampled = rng.integers(0, len(seeds), size=(samples, len(seeds)))
        signs = (1.0, -1.0)[:len(rows)]
        for sign, cell in zip(signs, cells):
            point += sign * _pooled(cell, seeds) / len(tasks)
            draws += sign * _draws(cell, seeds, resampled, rng) / len(tasks)
    low, high = np.quantile(draws, [0.025, 0.975])
    # The posterior draws lean away from 0/n and n/n; the interval still holds the estimate.
    return dict(point=float(point), ci95=[float(min(low, point)), float(max(high, point))])


def headline(results: dict, labels: dict[str, str], samples: int = 4000) -> dict:
    """Every row's mean over the tasks, DexPIE's difference to each, and the target check
    (DexPIE >= BC + 37 points and ahead of every other row, on the point estimates)."""
    tasks = list(results["config"]["tasks"])
    outcomes = seed_outcomes(results)
    planned = {e["row"] for e in results["entries"]}   # evaluated or not (yet)
    rows = [key for key in labels if key in planned]
    means = {row: mean_over_tasks(outcomes, [row], tasks, samples) for row in rows}
    gaps = {row: mean_over_tasks(outcomes, [DEXPIE, row], tasks, samples)
            for row in rows if row != DEXPIE}
    complete = means.get(DEXPIE) is not None and gaps.get(REFERENCE) is not None
    others = [row for row in gaps if row != REFERENCE]
    missing = [row for row in others if gaps[row] is None]
    # A row evaluated on fewer training seeds than DexPIE on some task (a run still going):
    # its difference is paired on the common seeds, its mean is over its own seeds.
    coverage = {row: {task: sorted(outcomes.get(row, {}).get(task, {})) for task in tasks}
                for row in rows}
    full = coverage.get(DEXPIE, {task: [] for task in tasks})
    partial = [row for row in rows if row != DEXPIE and means[row] is not None and any(
        set(full[task]) - set(coverage[row][task]) for task in tasks)]
    verdict = None
    if complete:
        gain = gaps[REFERENCE]["point"]
        behind = [row for row in others if gaps[row] is not None and gaps[row]["point"] <= 0]
        verdict = dict(gain_over_reference=gain, target_gain=TARGET_POINTS,
                       gain_met=gain >= TARGET_POINTS, not_ahead_of=behind,
                       rows_not_compared=missing, rows_on_fewer_seeds=partial,
                       met=gain >= TARGET_POINTS and not behind and not missing and not partial)
    seeds = sorted({s for row in outcomes.values() for task in row.values() for s in task})
    return dict(tasks=tasks, training_seeds=seeds, means=means, dexpie_minus=gaps,
                seeds_per_task={row: coverage[row] for row in partial},
                verdict=verdict, bootstrap_samples=samples)


def _interval(value: dict | None, scale: float = 1.0, signed: bool = False) -> str:
    if value is None:
        return "incomplete"
    fmt = "{:+.0f}" if signed else "{:.2f}"
    low, high = (fmt.format(v * scale) for v in value["ci95"])
    return f"{fmt.format(value['point'] * scale)} [{low}, {high}]"


def headline_lines(summary: dict, labels: dict[str, str]) -> list[str]:
    """Markdown: the mean-over-tasks table and the verdict line."""
    seeds = summary["training_seeds"]
    lines = [f"Mean success over the tasks ({', '.join(summary['tasks'])}) and DexPIE's "
             f"difference in points; 95 % intervals from a bootstrap over training seeds "
             f"({len(seeds)} here{': episode noise only' if len(seeds) < 2 else ''}) and "
             "evaluation episodes:", "",
             "| method | mean success | DexPIE − method (points) | the paper (real robot, "
             "human operators) |", "|---|---|---|---|"]
    for row, mean in summary["means"].items():
        gap = "" if row == DEXPIE else _interval(summary["dexpie_minus"].get(row), 100, True)
        paper = f"{PAPER[row]:.3f}" if row in PAPER else "–"
        label = labels[row]
        if row in summary["seeds_per_task"]:
            label += " (partial; seeds " + " · ".join(
                f"{task} {', '.join(map(str, seeds)) or 'none'}"
                for task, seeds in summary["seeds_per_task"][row].items()) + ")"
        lines.append(f"| {label} | {_interval(mean)} | {gap} | {paper} |")
    verdict = summary["verdict"]
    lines.append("")
    if verdict is None:
        lines.append("Target check: incomplete (DexPIE or the BC reference is missing on a task).")
        return lines
    parts = [f"DexPIE − BC reference = {verdict['gain_over_reference'] * 100:+.0f} points "
             f"(target ≥ +{verdict['target_gain'] * 100:.0f})"]
    if verdict["not_ahead_of"]:
        parts.append("not ahead of " + ", ".join(labels[r] for r in verdict["not_ahead_of"]))
    if verdict["rows_not_compared"]:
        parts.append("not yet compared with " + ", ".join(
            labels[r] for r in verdict["rows_not_compared"]))
    if verdict["rows_on_fewer_seeds"]:
        parts.append("compared on fewer training seeds than DexPIE's: " + ", ".join(
            labels[r] for r in verdict["rows_on_fewer_seeds"]))
    lines.append(f"Target check (point estimates): **{'met' if verdict['met'] else 'not met'}**"
                 f": " + "; ".join(parts) + ".")
    return lines


def plot_headline(summary: dict, labels: dict[str, str], path) -> None:
    """Horizontal bars: each row's mean success over the tasks with its 95 % interval, the
    paper's rate as a diamond where it reports the method; the BC
    reference + 37 points (the target) as a line; rows not yet evaluated are left out, rows on
    fewer training seeds than DexPIE's say "(partial)"."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [row for row, mean in summary["means"].items() if mean is not None]
    fig, ax = plt.subplots(figsize=(6.4, 0.42 * max(len(rows), 2) + 1.2), dpi=110)
    for y, row in enumerate(rows):
        mean = summary["means"][row]
        ax.barh(y, mean["point"], color="C2" if row == DEXPIE else "C7" if row == REFERENCE
                else "C0", alpha=0.85)
        ax.errorbar(mean["point"], y, xerr=[[mean["point"] - mean["ci95"][0]],
                                            [mean["ci95"][1] - mean["point"]]],
                    color="black", capsize=3, lw=1)
        if row in PAPER:
            ax.plot(PAPER[row], y, marker="D", color="C1", ms=5, ls="none",
                    label="the paper (real robot)" if row == DEXPIE else None)
    reference = summary["means"].get(REFERENCE)
    if reference is not None:
        ax.axvline(min(reference["point"] + TARGET_POINTS, 1.0), color="C3", ls="--")
        ax.set_title(f"dashed: the target, BC reference + {TARGET_POINTS * 100:.0f} points",
                     fontsize=8, color="C3")
    partial = summary["seeds_per_task"]
    ax.set_yticks(range(len(rows)), [labels[row] + (" (partial)" if row in partial else "")
                                     for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"mean success over {', '.join(summary['tasks'])} (95 % interval)", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    if any(row in PAPER for row in rows):
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
