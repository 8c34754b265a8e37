"""How well the advantage separates good from bad policy data, and whether smoothing the
critic's values along the episode helps (issue 6 diagnosis; offline, no training).

Reads a finished main-job run (its critics' per-step values V(o_t) stored with the labels)
and, for each task and each centred moving-average width k of V (k = 1: as trained), computes
the chunk advantages A_t (the DESIGN formula on the smoothed values), the continuous
indicator s_t (quantiles refit per k) and reports, over the rollouts' policy-controlled ticks:

- AUC: probability that a tick of a successful rollout has a higher A_t than a tick of a
  failed one (0.5 = no separation);
- the share of ticks with s_t >= 0.5 in successful vs failed rollouts;
- value jitter: mean |V(o_t+1) - V(o_t)| over the true per-step return change 1/L.

    .venv/bin/python benchmarks/indicator_separation.py --run runs/latest [--widths 1 5 9 17]

Prints a table and writes benchmarks/results/indicator_separation.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from dexpie_episode import load_episodes
from dexpie_learning.labels import load_labels
from dexpie_learning.labels.advantage import chunk_advantages
from dexpie_learning.labels.indicator import continuous_indicator, fit_indicator
from dexpie_learning.train.critic_label import DEFAULT_LABEL_SET

RESULTS = Path(__file__).resolve().parent / "results"


def smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of width `width` (odd), shrinking at the episode's ends."""
    if width <= 1:
        return np.asarray(values, float)
    half = width // 2
    sums = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(len(values))
    lo, hi = np.maximum(index - half, 0), np.minimum(index + half + 1, len(values))
    return (sums[hi] - sums[lo]) / (hi - lo)


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(positive > negative) + 0.5 P(tie), by ranks."""
    if positive.size == 0 or negative.size == 0:
        return float("nan")
    scores = np.concatenate([positive, negative])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2)[inverse]   # ties share their average rank
    return float((ranks[:positive.size].sum() - positive.size * (positive.size + 1) / 2)
                 / (positive.size * negative.size))


def task_report(pipeline: Path, rounds: int, horizon: int, widths: list[int]) -> dict:
    labels_dir = pipeline / f"r{rounds}" / "labels"
    labels = load_labels(labels_dir, DEFAULT_LABEL_SET)
    horizon_steps = labels.returns.max_episode_steps
    rollouts = [e for r in range(1, rounds + 1)
                for e in load_episodes(pipeline / "rollouts" / f"round_{r:02d}")[0]]
    rows = {}
    for width in widths:
        advantages = {i: chunk_advantages(smooth(lab.values, width), horizon, horizon_steps)
                      for i, lab in labels.episodes.items()}
        params = fit_indicator(list(advantages.values()))
        by_outcome = {True: ([], []), False: ([], [])}
        jitter = []
        for episode in rollouts:
            if episode.episode_id not in advantages:
                continue
            human = np.asarray(episode.intervention, bool)
            a = advantages[episode.episode_id]
            s = continuous_indicator(a, human, horizon, params)
            by_outcome[bool(episode.success)][0].append(a[~human])
            by_outcome[bool(episode.success)][1].append(s[~human])
            jitter.append(np.abs(np.diff(smooth(labels.episodes[episode.episode_id].values, width))))
        good_a, good_s = (np.concatenate(x) for x in by_outcome[True])
        bad_a, bad_s = (np.concatenate(x) for x in by_outcome[False])
        rows[width] = dict(auc=auc(good_a, bad_a),
                           share_s_ge_half_successful=float((good_s >= 0.5).mean()),
                           share_s_ge_half_failed=float((bad_s >= 0.5).mean()),
                           jitter_over_return_step=float(np.concatenate(jitter).mean() * horizon_steps),
                           policy_ticks_successful=int(good_a.size), policy_ticks_failed=int(bad_a.size))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a main-job output folder")
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 5, 9, 17])
    parser.add_argument("--out", type=Path, default=RESULTS / "indicator_separation.json")
    args = parser.parse_args(argv)
    if any(w < 1 or w % 2 == 0 for w in args.widths):
        parser.error(f"--widths must be odd and >= 1, got {args.widths}")
    results = {}
    for pipeline in sorted(args.run.glob("*/seed*/dexpie")):
        config = json.loads((pipeline / "pipeline.json").read_text())
        name = f"{config['task']}/{pipeline.parent.name}"
        results[name] = task_report(pipeline, config["rounds"], config["horizon"], args.widths)
    if not results:
        print(f"no finished DexPIE pipelines under {args.run}", file=sys.stderr)
        return 1
    print(f"{'task':18s} {'V smoothing':>11s} {'AUC':>6s} {'s>=.5 succ':>10s} {'s>=.5 fail':>10s} "
          f"{'jitter/step':>11s}")
    for name, rows in results.items():
        for width, row in rows.items():
            print(f"{name:18s} {width:11d} {row['auc']:6.3f} {row['share_s_ge_half_successful']:10.2f} "
                  f"{row['share_s_ge_half_failed']:10.2f} {row['jitter_over_return_step']:11.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(dict(run=str(args.run), widths=args.widths, tasks=results), indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
