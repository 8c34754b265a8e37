"""What the indicator-conditioned policy learns as "good" data, per task and round of a main-job
run: of the ticks with s >= 0.5, how many come from whole-human windows (demos and
interventions, forced to s = 1) and how many from windows the policy took part in.

Offline, on the label files of a finished run (`<out>/<task>/seed<k>/dexpie/r<r>/labels`).
Prints a table and writes JSON.

    .venv/bin/python benchmarks/indicator_composition.py --run runs/latest
"""
from __future__ import annotations

import argparse
from pathlib import Path

from dexpie_experiment.cell_cache import write_json
from dexpie_learning.labels.store import load_labels

RESULTS = Path(__file__).parent / "results"
LABEL_SET = "dexpie"
LABEL_FILE = f"labels/{LABEL_SET}.safetensors"


def composition(labels_dir: Path) -> dict:
    """Tick counts of one label set (validated by the label store): human windows, the
    rest, the rest with s >= 0.5."""
    labels = load_labels(labels_dir, LABEL_SET)
    ticks = human = policy_good = 0
    for episode in labels.episodes.values():
        ticks += episode.num_steps
        human += int(episode.human_window.sum())
        policy_good += int((episode.optimality[~episode.human_window] >= 0.5).sum())
    other = ticks - human
    return dict(episodes=len(labels.episodes), ticks=ticks, human_window_ticks=human,
                other_ticks=other, other_ticks_good=policy_good,
                other_good_fraction=policy_good / max(other, 1),
                good_share_not_human=policy_good / max(policy_good + human, 1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a main-job --out folder")
    parser.add_argument("--json", type=Path, default=RESULTS / "indicator_composition.json")
    args = parser.parse_args(argv)
    rows = []
    for label_file in sorted(args.run.glob(f"*/seed*/dexpie/r*/labels/{LABEL_FILE}")):
        round_dir = label_file.parents[2]
        seed_dir = round_dir.parent.parent
        rows.append(dict(task=seed_dir.parent.name, seed=seed_dir.name,
                         round=int(round_dir.name[1:]), **composition(label_file.parents[1])))
    if not rows:
        parser.error(f"no label files under {args.run} (expected */seed*/dexpie/r*/labels)")
    print(f"{'task':<9} {'seed':<6} {'round':>5} {'ticks':>6} {'human win.':>10} {'other':>6} "
          f"{'other s>=0.5':>12} {'of other':>8} {'good not human':>14}")
    for r in rows:
        print(f"{r['task']:<9} {r['seed']:<6} {r['round']:>5} {r['ticks']:>6} "
              f"{r['human_window_ticks']:>10} {r['other_ticks']:>6} {r['other_ticks_good']:>12} "
              f"{r['other_good_fraction']:>8.2f} {r['good_share_not_human']:>14.2f}")
    write_json(args.json, dict(benchmark="indicator_composition", run=str(args.run),
                               rows=rows, threshold=0.5))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
