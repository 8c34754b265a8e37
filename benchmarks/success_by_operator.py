"""Success against operator skill: the main job run once per operator population, side by side.

Each `--run` is a finished (or partly finished) `dexpie-experiment --operator-population P
--out X` folder; its results/results.json names the population it ran with. For every method
row the runs share, this prints the mean success over the tasks (95 % bootstrap interval
from the run's own headline) per population, ordered by skill (worse, okay, better, expert)
with `mixed` last, and plots success against skill, one line per method. The runs must share
tasks and every setting but the population (otherwise the comparison is refused, naming the
setting): only who operated may differ.

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
    rows = [row for row in labels if any(row in table[p] for p in ordered)]
    return dict(populations=ordered, rows=rows, labels=labels, means=table,
                tasks=by_population[ordered[0]]["config"]["tasks"])


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


def plot(summary: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    populations = summary["populations"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    width = 0.6 / max(len(summary["rows"]), 1)
    for k, row in enumerate(summary["rows"]):
        xs, ys, errors = [], [], [[], []]
        for i, p in enumerate(populations):
            mean = summary["means"][p].get(row)
            if mean is None:
                continue
            xs.append(i + (k - (len(summary["rows"]) - 1) / 2) * width)
            ys.append(mean["point"])
            errors[0].append(mean["point"] - mean["ci95"][0])
            errors[1].append(mean["ci95"][1] - mean["point"])
        ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, lw=1.2,
                    label=summary["labels"][row])
    ax.set_xticks(range(len(populations)), populations)
    ax.set_xlabel("operator who demonstrated and intervened (by skill; mixed = all tiers)")
    ax.set_ylabel(f"mean success over {', '.join(summary['tasks'])}")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
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
    print("\n".join(table_lines(summary)))
    summary["runs"] = [str(folder) for folder in args.run]
    write_json(args.out, summary)
    plot(summary, args.out.with_suffix(".png"))
    print(f"-> {args.out}, {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
