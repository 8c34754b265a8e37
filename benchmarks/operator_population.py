"""The simulated operator population, measured tier by tier before any policy is trained on it.

Per task and tier (expert = the scripted operator; better / okay / worse = the profiles of
`dexpie_sim/operators/population.py`, 2 people each, episodes dealt round robin):

- demonstrations: `--episodes` seeded episodes from the initial stage through the twin's
  control chain (devices -> arbiter -> hand controller -> hand), as the main job records
  them: success (Wilson 95 % interval), length of the successful ones (ticks), the reaction
  delay each episode drew;
- takeover timing: the same seeds, the hand held still from the initial stage (a policy that
  stalls, a failure every task's check sees: no progress for its patience), the person
  watching: the tick of the first takeover press, how many failures the person saw before
  pressing, and the spread GAINS measured for people (how often two of one person's presses
  for the same situation lie more than 10 frames apart).

Nothing here is tuned: the profiles are fixed in population.py with their sources, and this
prints what they do. Writes JSON and a plot.

    .venv/bin/python benchmarks/operator_population.py [--tasks relocate door hammer] [--episodes 24]
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dexpie_experiment.evaluation import wilson_interval
from dexpie_sim.operator_rollout import run_operator_episode
from dexpie_sim.operators.population import POPULATIONS, TIERS, member_for_episode
from dexpie_sim.registry import TASK_NAMES, make_operator, make_task
from dexpie_sim.stages import INIT_STAGE, StageLibrary

RESULTS = Path(__file__).resolve().parent / "results"
GAINS_FRAMES = 10   # GAINS: repeated human takeover marks differ by > 10 frames in > 1/2 of cases
STALL_LIMIT_TICKS = 600


def stall_takeover(library: StageLibrary, operator, seed: int) -> tuple[int | None, int]:
    """Hold the hand still from the initial stage of `seed`; the operator watches. -> (tick
    of the first takeover press or None within STALL_LIMIT_TICKS, failures the task's check
    saw up to then)."""
    task = library.task
    obs = library.reset(seed, INIT_STAGE)
    operator.reset(seed + 7919)   # as the DAgger rollouts seed an episode's operator
    hold = np.asarray(obs.joint_positions, float).copy()
    seen = 0
    check = operator.failure_seen

    def counted(scene):
        nonlocal seen
        fired = check(scene)
        seen += fired
        return fired
    operator.failure_seen = counted
    try:
        for tick in range(STALL_LIMIT_TICKS):
            scene = operator.observe_delayed()
            if operator.wants_takeover(scene):
                return tick, seen
            task.step(hold)
    finally:
        del operator.failure_seen
    return None, seen


def spread_beyond(ticks: list[int], frames: int) -> float | None:
    """Fraction of pairs of presses more than `frames` ticks apart."""
    pairs = list(itertools.combinations(ticks, 2))
    return None if not pairs else float(np.mean([abs(a - b) > frames for a, b in pairs]))


def measure(task_name: str, tier: str, episodes: int, first_seed: int) -> dict:
    task = make_task(task_name)
    library = StageLibrary(task, make_operator(task_name, task, seed=0))
    operator = make_operator(task_name, task, seed=1)
    demos, stalls = [], []
    for seed in tqdm(range(first_seed, first_seed + episodes), desc=f"{task_name}/{tier}",
                     leave=False):
        member = member_for_episode(tier, seed)
        operator.set_profile(member)
        result = run_operator_episode(library, operator, seed, INIT_STAGE)
        delay = operator.reaction_delay_steps
        demos.append(dict(seed=seed, person=member.identity, success=result.success,
                          ticks=result.steps, reaction_delay_ticks=delay))
        tick, seen = stall_takeover(library, operator, seed)
        stalls.append(dict(seed=seed, person=member.identity, takeover_tick=tick,
                           failures_seen=seen))
    successes = sum(d["success"] for d in demos)
    lengths = [d["ticks"] for d in demos if d["success"]]
    pressed = [s["takeover_tick"] for s in stalls if s["takeover_tick"] is not None]
    per_person = {}
    for s in stalls:
        if s["takeover_tick"] is not None:
            per_person.setdefault(s["person"], []).append(s["takeover_tick"])
    within = [spread_beyond(t, GAINS_FRAMES) for t in per_person.values()]
    within = [w for w in within if w is not None]
    return dict(
        task=task_name, tier=tier, episodes=episodes, people=len(POPULATIONS[tier]),
        demo_success=successes / episodes, demo_success_ci95=list(wilson_interval(successes, episodes)),
        demo_length_mean=float(np.mean(lengths)) if lengths else None,
        demo_length_sd=float(np.std(lengths)) if lengths else None,
        reaction_delay_ticks=[int(min(d["reaction_delay_ticks"] for d in demos)),
                              int(max(d["reaction_delay_ticks"] for d in demos))],
        takeover_tick_mean=float(np.mean(pressed)) if pressed else None,
        takeover_tick_sd=float(np.std(pressed)) if pressed else None,
        takeover_tick_range=[int(min(pressed)), int(max(pressed))] if pressed else None,
        takeover_never=sum(s["takeover_tick"] is None for s in stalls),
        first_failure_missed=float(np.mean([s["failures_seen"] > 1 for s in stalls])),
        same_person_presses_beyond_10_frames=float(np.mean(within)) if within else None,
        demos=demos, stalls=stalls)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    tiers = list(dict.fromkeys(r["tier"] for r in rows))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    width = 0.8 / len(tiers)
    for i, tier in enumerate(tiers):
        cells = [next(r for r in rows if r["task"] == t and r["tier"] == tier) for t in tasks]
        x = np.arange(len(tasks)) + (i - (len(tiers) - 1) / 2) * width
        rate = np.array([c["demo_success"] for c in cells])
        ci = np.array([c["demo_success_ci95"] for c in cells])
        axes[0].bar(x, rate, width, yerr=[rate - ci[:, 0], ci[:, 1] - rate], capsize=2, label=tier)
        axes[1].bar(x, [c["demo_length_mean"] or 0 for c in cells], width,
                    yerr=[c["demo_length_sd"] or 0 for c in cells], capsize=2, label=tier)
        axes[2].bar(x, [c["takeover_tick_mean"] or 0 for c in cells], width,
                    yerr=[c["takeover_tick_sd"] or 0 for c in cells], capsize=2, label=tier)
    for ax, title in zip(axes, ("demonstration success (95 % CI)",
                                "successful demo length [ticks] (± sd)",
                                "takeover press in a stall [tick] (± sd)")):
        ax.set_xticks(np.arange(len(tasks)), tasks)
        ax.set_title(title, fontsize=10)
    axes[0].set_ylim(0, 1.05)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    parser.add_argument("--tiers", nargs="+", default=list(TIERS), choices=list(TIERS))
    parser.add_argument("--episodes", type=int, default=24)
    parser.add_argument("--first-seed", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=RESULTS / "operator_population.json")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = [measure(task, tier, args.episodes, args.first_seed)
            for task in args.tasks for tier in args.tiers]
    print(f"operator population, {args.episodes} episodes per (task, tier) from the initial stage, "
          f"seeds {args.first_seed}.., {time.perf_counter() - started:.0f} s")
    header = (f"{'task':<9} {'tier':<7} {'demo success [95% CI]':<24} {'length':>12} {'delay':>7} "
              f"{'stall press':>14} {'range':>10} {'missed 1st':>10} {'>10 frames':>10}")
    print(header + "\n" + "-" * len(header))
    for r in rows:
        lo, hi = r["demo_success_ci95"]
        length = (f"{r['demo_length_mean']:.0f} ± {r['demo_length_sd']:.0f}"
                  if r["demo_length_mean"] is not None else "-")
        press = (f"{r['takeover_tick_mean']:.0f} ± {r['takeover_tick_sd']:.0f}"
                 if r["takeover_tick_mean"] is not None else "-")
        span = "-" if r["takeover_tick_range"] is None else "{}-{}".format(*r["takeover_tick_range"])
        beyond = r["same_person_presses_beyond_10_frames"]
        print(f"{r['task']:<9} {r['tier']:<7} {r['demo_success']:.2f} [{lo:.2f}, {hi:.2f}]{'':<10} "
              f"{length:>12} {'{}-{}'.format(*r['reaction_delay_ticks']):>7} {press:>14} {span:>10} "
              f"{r['first_failure_missed']:>10.2f} {'-' if beyond is None else f'{beyond:.2f}':>10}")
    print("delay: reaction delay drawn per episode [ticks of 1/30 s]; stall press: tick of the first "
          "takeover press with the hand held still; missed 1st: fraction of episodes where the "
          "person let a failure the task's check saw pass; >10 frames: fraction of one person's "
          "pairs of presses more than 10 ticks apart (GAINS: > 1/2 for people)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "operator_population", "episodes": args.episodes,
                                    "first_seed": args.first_seed, "rows": rows}, indent=1))
    plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
