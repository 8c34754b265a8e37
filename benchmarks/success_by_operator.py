"""Success against operator skill: the main job run once per operator population, side by side.

Each `--run` is a finished (or partly finished) `dexpie-experiment --operator-population P
--out X` folder; its results/results.json names the population it ran with. For every method
row the runs share, this prints the mean success over the tasks (95 % bootstrap interval
from the run's own headline) per population, ordered by skill (worse, okay, better, expert)
with `mixed` last; then per task the pooled successes, the human steps per training seed
(demonstration + intervention) and the critic's held-out ranking next to DexPIE. It plots
success against skill, one line per method, for the mean and for each task. A task where a
row has no evaluated cell (e.g. a population none of whose demonstrations of that task
succeeded, so no policy could be trained on the successful ones) shows "–" and leaves that
row's mean out; the per-task panels still show the other tasks. The runs must share tasks and every setting
but the population (otherwise the comparison is refused, naming the setting): only who
operated may differ.

    .venv/bin/python benchmarks/success_by_operator.py --run runs/expert --run runs/mixed \\
        --run runs/better --run runs/okay --run runs/worse
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from dexpie_experiment.cell_cache import write_json

RESULTS = Path(__file__).parent / "results"
SKILL_ORDER = ("worse", "okay", "better", "expert", "mixed")   # mixed: all three tiers
# Settings that may differ between the runs (everything else must match).
FREE_SETTINGS = ("operator_population", "torch_threads", "train_device", "methods")


def load_run(folder: Path) -> dict:
    path = Path(folder) / "results" / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `dexpie-experiment --out "
                                f"{folder} --report-only` first")
    results = json.loads(path.read_text())
    if "headline" not in results:
        raise ValueError(f"{path}: no headline (written by an older version; rerun "
                         f"--report-only)")
    return results


def population_of(results: dict) -> str:
    return results["config"]["template"].get("operator_population", "expert")


def check_comparable(runs: dict[str, dict]) -> None:
    """Same tasks, seeds, demos and settings; one run per population."""
    items = list(runs.items())
    first_name, first = items[0]
    for name, results in items[1:]:
        for key in ("tasks", "seeds", "demos"):
            if results["config"][key] != first["config"][key]:
                raise ValueError(f"{name} and {first_name} differ in {key}: "
                                 f"{results['config'][key]} vs {first['config'][key]}")
        mine, theirs = results["config"]["template"], first["config"]["template"]
        for key in sorted(set(mine) | set(theirs)):
            if key not in FREE_SETTINGS and mine.get(key) != theirs.get(key):
                raise ValueError(f"{name} and {first_name} differ in {key}: "
                                 f"{mine.get(key)!r} vs {theirs.get(key)!r}")


def success_by_operator(runs: list[dict]) -> dict:
    """population -> row -> {point, ci95} (mean over the tasks), rows in the table's order."""
    by_population = {}
    for results in runs:
        population = population_of(results)
        if population in by_population:
            raise ValueError(f"two runs with operator population {population!r}")
        by_population[population] = results
    check_comparable(by_population)
    ordered = sorted(by_population, key=lambda p: SKILL_ORDER.index(p)
                     if p in SKILL_ORDER else len(SKILL_ORDER))
    labels = {}
    for results in by_population.values():
        labels.update({row["key"]: row["label"] for row in results["rows"]})
    table = {p: {row: mean for row, mean in by_population[p]["headline"]["means"].items()
                 if mean is not None} for p in ordered}
    tasks = by_population[ordered[0]]["config"]["tasks"]
    cells = {p: per_task(by_population[p]) for p in ordered}
    rows = [row for row in labels if any(row in table[p] or row in cells[p] for p in ordered)]
    return dict(populations=ordered, rows=rows, labels=labels, means=table, tasks=tasks,
                per_task=cells)


def per_task(results: dict) -> dict:
    """row -> task -> successes and episodes pooled over the training seeds, human steps
    per training seed (demos + interventions) and the critic's held-out ranking (DexPIE's
    and the binary indicator's rows; None elsewhere), from the run's table."""
    cells: dict = {}
    for entry in results.get("table", []):
        if not entry.get("episodes"):
            continue
        effort = entry.get("human_effort") or {}
        cells.setdefault(entry["row"], {})[entry["task"]] = dict(
            successes=int(entry["successes"]), episodes=int(entry["episodes"]),
            ci95=list(entry["ci95"]), seeds=list(entry.get("seeds", [])),
            human_steps=effort.get("human_steps"),
            critic_ranking=entry.get("critic_ranking"))
    return cells


def table_lines(summary: dict) -> list[str]:
    populations = summary["populations"]
    lines = ["| method | " + " | ".join(populations) + " |",
             "|---|" + "---|" * len(populations)]
    for row in summary["rows"]:
        cells = []
        for p in populations:
            mean = summary["means"][p].get(row)
            cells.append("–" if mean is None else f"{mean['point']:.2f} "
                         f"[{mean['ci95'][0]:.2f}, {mean['ci95'][1]:.2f}]")
        lines.append(f"| {summary['labels'][row]} | " + " | ".join(cells) + " |")
    return lines


def task_lines(summary: dict) -> list[str]:
    """Per task: successes / episodes per population, human steps per seed, critic ranking."""
    populations = summary["populations"]
    lines = []
    for task in summary["tasks"]:
        lines += ["", f"{task}: successes / episodes (human steps per training seed; critic "
                      f"ranking next to DexPIE)",
                  "| method | " + " | ".join(populations) + " |",
                  "|---|" + "---|" * len(populations)]
        for row in summary["rows"]:
            cells = []
            for p in populations:
                cell = summary["per_task"][p].get(row, {}).get(task)
                if cell is None:
                    cells.append("–")
                    continue
                text = f"{cell['successes']}/{cell['episodes']}"
                if cell["human_steps"] is not None:
                    text += f" ({cell['human_steps']:.0f})"
                if row == "policy" and cell["critic_ranking"] is not None:
                    text += f", ranking {cell['critic_ranking']:.2f}"
                cells.append(text)
            lines.append(f"| {summary['labels'][row]} | " + " | ".join(cells) + " |")
    return lines


def _panel(ax, summary: dict, points, title: str) -> None:
    """points(population, row) -> (rate, low, high) or None; one errorbar line per row."""
    populations, rows = summary["populations"], summary["rows"]
    width = 0.6 / max(len(rows), 1)
    for k, row in enumerate(rows):
        xs, ys, errors = [], [], [[], []]
        for i, p in enumerate(populations):
            point = points(p, row)
            if point is None:
                continue
            rate, low, high = point
            xs.append(i + (k - (len(rows) - 1) / 2) * width)
            ys.append(rate)
            errors[0].append(rate - low)
            errors[1].append(high - rate)
        ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, lw=1.2,
                    label=summary["labels"][row])
    ax.set_xticks(range(len(populations)), populations)
    ax.set_title(title, fontsize=9)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)


def plot(summary: dict, path: Path) -> None:
    """Mean over the tasks (headline intervals), then one panel per task (the run table's
    interval of the pooled episodes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tasks = summary["tasks"]
    fig, axes = plt.subplots(1, 1 + len(tasks), figsize=(4.2 * (1 + len(tasks)), 4.0),
                             dpi=110, sharey=True)

    def mean_point(p, row):
        mean = summary["means"][p].get(row)
        return None if mean is None else (mean["point"], *mean["ci95"])

    _panel(axes[0], summary, mean_point, f"mean over {', '.join(tasks)}")
    for ax, task in zip(axes[1:], tasks):
        def task_point(p, row, task=task):
            cell = summary["per_task"][p].get(row, {}).get(task)
            if cell is None:
                return None
            return cell["successes"] / cell["episodes"], *cell["ci95"]
        _panel(ax, summary, task_point, task)
    axes[0].set_ylabel("success")
    fig.supxlabel("operator who demonstrated and intervened (by skill; mixed = all tiers)",
                  fontsize=9)
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, action="append", required=True,
                        help="a main-job output folder (repeat: one per operator population)")
    parser.add_argument("--out", type=Path, default=RESULTS / "success_by_operator.json")
    args = parser.parse_args()
    summary = success_by_operator([load_run(folder) for folder in args.run])
    print("\n".join(table_lines(summary) + task_lines(summary)))
    summary["runs"] = [str(folder) for folder in args.run]
    write_json(args.out, summary)
    plot(summary, args.out.with_suffix(".png"))
    print(f"-> {args.out}, {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
