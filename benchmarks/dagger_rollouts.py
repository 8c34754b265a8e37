"""Multi-stage DAgger rollouts of a trained policy with the simulated operator intervening.

Trains nothing: loads a policy checkpoint folder, collects N rollout episodes in the twin
(half from intermediate stages by default), and reports per episode and per start stage:
success of the episode (whoever was in control at the end), intervention rate (human steps /
steps), mean intervention length (ticks), takeovers per episode. Writes JSON (and keeps the
episode bags in --bags).

    .venv/bin/python benchmarks/dagger_rollouts.py --checkpoint /tmp/dagger_bc/policies/relocate_bc \\
        --task relocate [--episodes 20] [--first-seed 300000] [--stage-mix 0.5] [--latency-ticks 2]
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from dexpie_experiment.dagger import collect_dagger_round
from dexpie_experiment.dagger_report import format_episode_table, format_round_table, summarize_round
from dexpie_policy.runner import PolicyRunner
from dexpie_sim.registry import TASK_NAMES, task_spec

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="policy folder (safetensors + JSON)")
    parser.add_argument("--task", required=True, choices=TASK_NAMES)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=300_000,
                        help="seed of the first episode (disjoint from demo and evaluation seeds)")
    parser.add_argument("--stage-mix", type=float, default=0.5, help="share of episodes from intermediate stages")
    parser.add_argument("--latency-ticks", type=int, default=2)
    parser.add_argument("--bags", type=Path, default=None, help="where to write the episode bags (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default: benchmarks/results/dagger_rollouts_<task>.json)")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    if not args.checkpoint.is_dir():
        parser.error(f"--checkpoint {args.checkpoint} is not a folder")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    runner = PolicyRunner.from_pretrained(args.checkpoint)
    bags = args.bags or Path(tempfile.mkdtemp(prefix=f"dagger_{args.task}_"))
    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    start = time.perf_counter()
    summaries = collect_dagger_round(runner, args.task, bags, seeds, stage_mix=args.stage_mix,
                                     latency_ticks=args.latency_ticks)
    elapsed = time.perf_counter() - start
    report = summarize_round(args.task, summaries, task_spec(args.task).stages)
    print(format_episode_table(summaries))
    print()
    print(format_round_table(report))
    print(f"takeover reasons {report.takeover_reasons}, handback reasons {report.handback_reasons}, "
          f"largest command step at an edge {report.overall['max_transition_step']:.3f} rad; "
          f"{elapsed:.0f} s wall, bags in {bags}")
    out = args.out or RESULTS / f"dagger_rollouts_{args.task}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(report.to_dict(), checkpoint=str(args.checkpoint), seeds=[seeds[0], seeds[-1]],
                   stage_mix=args.stage_mix, latency_ticks=args.latency_ticks, wall_seconds=elapsed,
                   machine=platform.platform(), bags=str(bags))
    out.write_text(json.dumps(payload, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
