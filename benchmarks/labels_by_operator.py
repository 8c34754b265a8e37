"""What DexPIE's labels say about each operator's data: does the critic tell good human data
from bad, and what does the indicator make of it?

For a finished main-job run (`<run>/<task>/seed0/dexpie`, its last round's label file and
the bags it labelled):

- demonstrations per operator tier (from each bag's note "operator <tier> #<id>"): count,
  successes, mean length, mean chunk advantage A (the critic's view of their quality) and
  mean indicator s (what the policy is taught; 1 wherever the human-override rule forces it);
- rollouts by outcome: policy ticks (mean s) and human ticks (count, mean A, mean s): with
  operators who fail, human ticks of failed episodes are corrections that did not work.

Prints a table per task and writes JSON. Nothing is trained or evaluated.

    .venv/bin/python benchmarks/labels_by_operator.py --run /path/to/run
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from dexpie_experiment.cell_cache import write_json

RESULTS = Path(__file__).parent / "results"
TIER_NOTE = re.compile(r"operator (\w+) #(\d+)")


def _mean(values) -> float | None:
    values = np.concatenate([np.asarray(v, dtype=float).ravel() for v in values]) if values \
        else np.zeros(0)
    return float(values.mean()) if values.size else None


def summarise(episodes, is_demo, labels) -> dict:
    """episodes (with .meta.note, .success, .num_ticks, .intervention), is_demo flags and the
    DatasetLabels covering them -> the per-tier and per-outcome summary."""
    demos, rollouts = {}, {}
    for episode, demo in zip(episodes, is_demo):
        label = labels.episodes[episode.episode_id]
        if demo:
            match = TIER_NOTE.search(episode.meta.note or "")
            group = demos.setdefault(match.group(1) if match else "unknown", dict(
                episodes=0, successes=0, ticks=[], advantages=[], optimality=[]))
            group["episodes"] += 1
            group["successes"] += int(bool(episode.success))
            group["ticks"].append(episode.num_ticks)
            group["advantages"].append(label.advantages)
            group["optimality"].append(label.optimality)
            continue
        human = np.asarray(episode.intervention, dtype=bool)
        group = rollouts.setdefault("success" if episode.success else "failure", dict(
            episodes=0, policy_s=[], human_s=[], human_a=[], human_ticks=0, policy_ticks=0))
        group["episodes"] += 1
        group["policy_s"].append(label.optimality[~human])
        group["human_s"].append(label.optimality[human])
        group["human_a"].append(label.advantages[human])
        group["human_ticks"] += int(human.sum())
        group["policy_ticks"] += int((~human).sum())
    return dict(
        demos={tier: dict(episodes=g["episodes"], successes=g["successes"],
                          mean_length=float(np.mean(g["ticks"])),
                          mean_advantage=_mean(g["advantages"]),
                          mean_optimality=_mean(g["optimality"]))
               for tier, g in demos.items()},
        rollouts={outcome: dict(episodes=g["episodes"], policy_ticks=g["policy_ticks"],
                                policy_mean_optimality=_mean(g["policy_s"]),
                                human_ticks=g["human_ticks"],
                                human_mean_advantage=_mean(g["human_a"]),
                                human_mean_optimality=_mean(g["human_s"]))
                  for outcome, g in rollouts.items()},
        indicator=labels.indicator.to_dict(),
        human_override=labels.extra.get("human_override", "all"))


def task_summary(run: Path, task: str) -> dict:
    from dexpie_learning.labels.store import load_labels
    from dexpie_learning.train.critic_label import labelled_subset
    from dexpie_learning.train.data import load_training_data
    pipeline = run / task / "seed0" / "dexpie"
    rounds = sorted((pipeline / "rollouts").glob("round_*"))
    data, _ = labelled_subset(load_training_data([run / "demos" / task], rounds,
                                                 progress=False))
    labels = load_labels(pipeline / f"r{len(rounds)}" / "labels", "dexpie",
                         [e.episode_id for e in data.episodes])
    return summarise(data.episodes, data.is_demo, labels)


def _fmt(value, signed=False) -> str:
    return "–" if value is None else (f"{value:+.3f}" if signed else f"{value:.2f}")


def lines_for(task: str, summary: dict) -> list[str]:
    out = [f"== {task} (human windows forced to s = 1: {summary['human_override']})",
           "  demos    tier     n  success  length  mean A   mean s"]
    for tier in ("expert", "better", "okay", "worse", "unknown"):
        g = summary["demos"].get(tier)
        if g:
            out.append(f"           {tier:7s} {g['episodes']:2d}  {g['successes']:2d}/{g['episodes']:<4d}"
                       f" {g['mean_length']:6.0f}  {_fmt(g['mean_advantage'], True)}  "
                       f"{_fmt(g['mean_optimality'])}")
    out.append("  rollouts outcome  n  policy ticks (mean s)  human ticks (mean A, mean s)")
    for outcome in ("success", "failure"):
        g = summary["rollouts"].get(outcome)
        if g:
            out.append(f"           {outcome:7s} {g['episodes']:2d}  {g['policy_ticks']:6d} "
                       f"({_fmt(g['policy_mean_optimality'])})         {g['human_ticks']:5d} "
                       f"({_fmt(g['human_mean_advantage'], True)}, "
                       f"{_fmt(g['human_mean_optimality'])})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished main-job folder")
    parser.add_argument("--tasks", nargs="+", default=["relocate", "door", "hammer"])
    parser.add_argument("--out", type=Path, default=RESULTS / "labels_by_operator.json")
    args = parser.parse_args()
    summaries = {task: task_summary(args.run, task) for task in args.tasks}
    for task, summary in summaries.items():
        print("\n".join(lines_for(task, summary)))
    write_json(args.out, dict(run=str(args.run), tasks=summaries))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
