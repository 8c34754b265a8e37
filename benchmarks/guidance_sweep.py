"""Does the indicator change what the trained DexPIE policy does? Deploy one checkpoint with
different indicators s and guidance weights w on the same evaluation seeds.

For a finished experiment pipeline (`<run>/<task>/seed<k>/dexpie`), DexPIE's last-round
checkpoint is evaluated (async, the main job's latency and seeds) as deployed (s = 1, w = 1.5),
without guidance (s = 1, w = 1), with strong guidance (s = 1, w = 3), asked for bad behaviour
(s = 0, w = 1) and unconditioned (w = 0: the null branch alone). If the indicator steered
the policy, s = 0 and the null branch would fail clearly more often than s = 1 with guidance.
Episodes are paired by seed: `differs` counts the seeds whose outcome differs from the
deployed setting's. The pipeline's BC reference and HG-DAgger results are listed beside.

    .venv/bin/python benchmarks/guidance_sweep.py --pipeline /tmp/full_cpu/relocate/seed0/dexpie
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from dexpie_learning.cell_cache import write_json

RESULTS = Path(__file__).parent / "results"
# (name, s, w): w = 0 leaves only the unconditional (null) velocity.
SETTINGS = (("s=1, w=1.5 (deployed)", 1.0, 1.5), ("s=1, w=1", 1.0, 1.0), ("s=1, w=3", 1.0, 3.0),
            ("s=0, w=1", 0.0, 1.0), ("null (w=0)", 1.0, 0.0))


def last_round_policy(pipeline: Path) -> tuple[Path, int]:
    """DexPIE's checkpoint of the pipeline's last trained round: <pipeline>/r<k>/policy/policy."""
    rounds = sorted((int(p.name[1:]), p) for p in pipeline.glob("r[0-9]*")
                    if (p / "policy" / "policy" / "config.json").exists())
    if not rounds:
        raise SystemExit(f"no DexPIE checkpoint under {pipeline}/r<k>/policy/policy")
    number, folder = rounds[-1]
    return folder / "policy" / "policy", number


def discordant(outcomes: list[bool], reference: list[bool]) -> int:
    """Seeds (paired by position) whose success differs between two settings."""
    if len(outcomes) != len(reference):
        raise ValueError(f"{len(outcomes)} and {len(reference)} episodes cannot be paired")
    return sum(a != b for a, b in zip(outcomes, reference))


def sweep(pipeline: Path, episodes: int, first_seed: int, latency_ticks: int) -> dict:
    from dexpie_learning.evaluation import EvalConfig, evaluate_policy
    from dexpie_policy.runner import PolicyRunner
    from dexpie_sim.registry import make_task

    checkpoint, round_number = last_round_policy(pipeline)
    task_name = json.loads((checkpoint / "training.json").read_text())["task"]
    runner, task = PolicyRunner.from_pretrained(checkpoint), make_task(task_name)
    rows, reference = [], None
    for name, optimality, cfg_scale in SETTINGS:
        report = evaluate_policy(runner, task, EvalConfig(
            episodes=episodes, first_seed=first_seed, latency_ticks=latency_ticks,
            optimality=optimality, cfg_scale=cfg_scale), progress=False)
        outcomes = [r.success for r in report.results]
        reference = outcomes if reference is None else reference
        rows.append(dict(setting=name, optimality=optimality, cfg_scale=cfg_scale,
                         successes=report.successes, episodes=report.episodes,
                         ci95=list(report.ci95), differs=discordant(outcomes, reference)))
        print(f"  {task_name} {name:<24} {report.successes:>3}/{report.episodes} "
              f"[{report.ci95[0]:.2f}, {report.ci95[1]:.2f}]  differs from deployed on "
              f"{rows[-1]['differs']} seeds", flush=True)
    beside = {}
    for label, cell in (("BC reference", pipeline / "bc_reference" / "eval.json"),
                        ("HG-DAgger", pipeline / f"r{round_number}" / "hg-dagger" / "eval.json")):
        if cell.exists():
            e = json.loads(cell.read_text())
            beside[label] = dict(successes=e["successes"], episodes=e["episodes"],
                                 first_seed=e["eval_config"]["first_seed"])
    return dict(pipeline=str(pipeline), task=task_name, round=round_number,
                checkpoint=str(checkpoint), first_seed=first_seed, latency_ticks=latency_ticks,
                settings=rows, beside=beside)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline", type=Path, nargs="+", required=True,
                        help="<run>/<task>/seed<k>/dexpie folders")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=100_000,
                        help="the main job's evaluation seeds by default")
    parser.add_argument("--latency-ticks", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "guidance_sweep.json")
    args = parser.parse_args(argv)
    results = []
    for pipeline in args.pipeline:
        print(f"{pipeline}:", flush=True)
        results.append(sweep(pipeline, args.episodes, args.first_seed, args.latency_ticks))
        for label, b in results[-1]["beside"].items():
            print(f"  {results[-1]['task']} {label:<24} {b['successes']:>3}/{b['episodes']} "
                  "(the pipeline's own cell)", flush=True)
    write_json(args.out, dict(settings=[list(s) for s in SETTINGS], results=results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
