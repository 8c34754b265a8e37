"""Baselines that spend the human's time on more demonstrations instead of on interventions.

    bc-effort-demos  BC on the demos + as many extra operator demos as are worth the human
                     effort of DexPIE's interventions (intervention steps of rounds 1..R at
                     the demos' mean length, rounded to the nearest count)
    bc-count-demos   BC on the demos + as many extra demos as DexPIE had rollout episodes
                     (rounds x rollouts)

Both are cells of a `ComparisonPipeline` (same training config, same evaluation seeds):
`<work>/<method>/policy`, `<work>/<method>/eval.json`, `<work>/<method>/extra_demos.json`
(the count and how it was derived). Extra demos are seeded after the demos' seeds and live
in the pipeline's `extra_demo_root/n<count>/`, shared by pipelines that need the same count.
The human effort actually spent (demo steps) is in the policy's training.json.
"""
from __future__ import annotations

import math
from pathlib import Path

from dexpie_experiment.cell_cache import read_json, write_json
from dexpie_experiment.pipeline_report import method_row

EXTRA_DEMO_METHODS = ("bc-effort-demos", "bc-count-demos")


def effort_matched_demo_count(intervention_steps: int, demo_steps: int, demos: int) -> int:
    """Extra demonstrations worth `intervention_steps` human-operated steps, at the mean
    length of the `demos` demonstrations that took `demo_steps` (half rounds up)."""
    if demos < 1 or demo_steps < 1:
        raise ValueError(f"need at least one demonstration step, got {demos} demos, "
                         f"{demo_steps} steps")
    if intervention_steps < 0:
        raise ValueError(f"intervention_steps must be >= 0, got {intervention_steps}")
    return math.floor(intervention_steps * demos / demo_steps + 0.5)


def count_matched_demo_count(rounds: int, rollouts: int) -> int:
    """As many extra demonstrations as rollout episodes were collected."""
    if rounds < 0 or rollouts < 0:
        raise ValueError(f"rounds and rollouts must be >= 0, got {rounds}, {rollouts}")
    return rounds * rollouts


def extra_demo_count(pipeline, method: str) -> dict:
    """The extra demo count of `method` and its derivation (collects the rounds if needed)."""
    c = pipeline.config
    if method == "bc-count-demos":
        return dict(count=count_matched_demo_count(c.rounds, c.rollouts),
                    rule="rollout episodes of DexPIE", rollout_episodes=c.rounds * c.rollouts)
    if method != "bc-effort-demos":
        raise ValueError(f"unknown extra-demo baseline {method!r} ({list(EXTRA_DEMO_METHODS)})")
    demos = read_json(pipeline.collect_demos() / "complete.json")
    interventions = sum(read_json(pipeline.collect_round(r) / "summary.json")["overall"]
                        ["human_steps"] for r in range(1, c.rounds + 1))
    return dict(count=effort_matched_demo_count(interventions, demos["steps"], len(demos["seeds"])),
                rule="human steps of DexPIE's interventions at the mean demo length",
                intervention_steps=interventions, demo_steps=demos["steps"],
                demos=len(demos["seeds"]))


def method_dir(pipeline, method: str) -> Path:
    return pipeline.work / method


def train_extra_demo_baseline(pipeline, method: str) -> Path:
    out = method_dir(pipeline, method) / "policy"
    if (out / "training.json").exists():
        return out
    plan = extra_demo_count(pipeline, method)
    folders = [pipeline.collect_demos()]
    if plan["count"]:
        folders.append(pipeline.collect_extra_demos(plan["count"]))
    method_dir(pipeline, method).mkdir(parents=True, exist_ok=True)
    write_json(method_dir(pipeline, method) / "extra_demos.json", plan)
    return pipeline.train_cell(out, "bc", folders, [], None,
                               f"({method}: demos + {plan['count']} extra demos)")


def evaluate_extra_demo_baseline(pipeline, method: str) -> dict:
    return pipeline.evaluate_cell(method_dir(pipeline, method) / "eval.json", method,
                                  lambda: train_extra_demo_baseline(pipeline, method))


def extra_demo_row(pipeline, method: str) -> dict:
    """The finished cells of an extra-demo baseline (nothing computed)."""
    folder = method_dir(pipeline, method)
    row = method_row(method, folder / "policy", folder / "eval.json")
    row["extra_demos"] = read_json(folder / "extra_demos.json")
    return row
