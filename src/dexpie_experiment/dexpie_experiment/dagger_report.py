"""Per-episode summaries of DAgger rollouts and the aggregate figures of a round.

Human effort is counted in human-operated control steps; the intervention rate of a round
is human steps / all steps, and an intervention's length is its run of human ticks.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np


@dataclass
class RolloutSummary:
    seed: int
    stage: str                      # the episode's start stage
    success: bool                   # solved by the end, whoever was in control
    steps: int
    human_steps: int
    hold_steps: int
    interventions: int              # takeovers
    intervention_lengths: list[int]  # human ticks of each intervention, in order
    takeover_reasons: list[str]
    handback_reasons: list[str]
    max_transition_step: float      # largest per-joint command change on edge/blend ticks
    max_step: float                 # largest per-joint command change anywhere
    path: str
    note: str = ""
    clipped_steps: int = 0          # the hand controller clipped the command to limits or rate-limited it
    rate_limited_steps: int = 0     # of those, steps where the rate limit acted

    def to_dict(self) -> dict:
        return asdict(self)


def intervention_lengths(human: np.ndarray) -> list[int]:
    """Lengths of the maximal runs of True in a (T,) bool array, in order."""
    human = np.asarray(human, bool)
    if human.size == 0:
        return []
    padded = np.concatenate([[False], human, [False]]).astype(np.int8)
    change = np.flatnonzero(np.diff(padded))
    return [int(end - start) for start, end in zip(change[::2], change[1::2])]


def _group(summaries: Sequence[RolloutSummary]) -> dict:
    n = len(summaries)
    steps = sum(s.steps for s in summaries)
    human = sum(s.human_steps for s in summaries)
    lengths = [length for s in summaries for length in s.intervention_lengths]
    return dict(
        episodes=n,
        successes=sum(s.success for s in summaries),
        success_rate=sum(s.success for s in summaries) / n if n else float("nan"),
        steps=steps, human_steps=human,
        intervention_rate=human / steps if steps else float("nan"),
        takeovers=sum(s.interventions for s in summaries),
        takeovers_per_episode=sum(s.interventions for s in summaries) / n if n else float("nan"),
        episodes_with_intervention=sum(s.interventions > 0 for s in summaries),
        mean_intervention_length=float(np.mean(lengths)) if lengths else float("nan"),
        median_intervention_length=float(np.median(lengths)) if lengths else float("nan"),
        max_transition_step=max((s.max_transition_step for s in summaries), default=0.0),
        clipped_steps=sum(s.clipped_steps for s in summaries),
        rate_limited_steps=sum(s.rate_limited_steps for s in summaries),
    )


@dataclass
class RoundReport:
    task: str
    overall: dict
    by_stage: dict[str, dict] = field(default_factory=dict)
    takeover_reasons: dict[str, int] = field(default_factory=dict)
    handback_reasons: dict[str, int] = field(default_factory=dict)
    episodes: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def summarize_round(task: str, summaries: Sequence[RolloutSummary], stage_order: Sequence[str] = ()) -> RoundReport:
    by_stage = defaultdict(list)
    for s in summaries:
        by_stage[s.stage].append(s)
    order = [st for st in stage_order if st in by_stage] + sorted(set(by_stage) - set(stage_order))
    takeover, handback = defaultdict(int), defaultdict(int)
    for s in summaries:
        for r in s.takeover_reasons:
            takeover[r] += 1
        for r in s.handback_reasons:
            handback[r] += 1
    return RoundReport(task=task, overall=_group(summaries),
                       by_stage={st: _group(by_stage[st]) for st in order},
                       takeover_reasons=dict(takeover), handback_reasons=dict(handback),
                       episodes=[s.to_dict() for s in summaries])


def format_episode_table(summaries: Sequence[RolloutSummary]) -> str:
    rows = [f"{'seed':>8} {'stage':<10} {'success':>7} {'steps':>5} {'human':>5} {'rate':>5} "
            f"{'takeovers':>9}  lengths / reasons"]
    for s in summaries:
        rate = s.human_steps / s.steps if s.steps else float("nan")
        rows.append(f"{s.seed:>8} {s.stage:<10} {str(s.success):>7} {s.steps:>5} {s.human_steps:>5} "
                    f"{rate:>5.2f} {s.interventions:>9}  {s.intervention_lengths} {s.takeover_reasons}")
    return "\n".join(rows)


def format_round_table(report: RoundReport) -> str:
    head = (f"{'start stage':<12} {'eps':>4} {'success':>8} {'interv. rate':>12} {'mean len':>8} "
            f"{'takeovers/ep':>12} {'eps w/ interv.':>14}")
    rows = [head]
    for name, g in [*report.by_stage.items(), ("ALL", report.overall)]:
        rows.append(f"{name:<12} {g['episodes']:>4} {g['successes']:>3}/{g['episodes']:<4} "
                    f"{g['intervention_rate']:>12.3f} {g['mean_intervention_length']:>8.1f} "
                    f"{g['takeovers_per_episode']:>12.2f} {g['episodes_with_intervention']:>14}")
    return "\n".join(rows)
