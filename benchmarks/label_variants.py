"""Why DexPIE trails HG-DAgger in the twin: label and training variants of the last round's
indicator-conditioned policy, side by side on ONE fixed dataset.

Every variant is trained on the same bags (demos + every DAgger round of a finished main-job
run, `<run>/<task>/seed0/dexpie`), with the run's own critic values (its last-round label
file), the run's training config (steps, model size, seed), and evaluated on the same seeded
episodes. The evaluation seeds (default 200000..) are disjoint from the main job's
(100000..): this benchmark chooses between methods, so it must not look at the seeds that
report them.

    variant          what differs from the run's DexPIE policy
    dexpie           nothing: the run's checkpoint, re-evaluated (w = 1.5)
    dexpie-w1        the same checkpoint, no guidance (w = 1)
    dexpie-w3        the same checkpoint, w = 3
    dexpie-s0        the same checkpoint asked for s = 0 (w = 1): does the condition matter?
    dexpie-null      the same checkpoint, unconditional branch only (w = 0)
    hg-dagger        the run's HG-DAgger checkpoint (demos + interventions only)
    bc               the run's BC reference (demos only)
    strict           quantiles fit on the policy's own ticks at 0.8 / 0.9 instead of all
                     ticks at 0.6 / 0.8: a fifth of the policy's ticks reach s >= 0.5, not ~0.38
    strict-takeover  strict, and s = 0 for policy ticks whose window reaches a takeover
    cap05            policy ticks scaled into [0, 0.5]: s = 1 is human-only
    humanpos         s = 1 on whole-human windows, 0 elsewhere (no critic at all)
    dexpie-2x, hg-dagger-2x   twice the run's training steps
    dexpie-4x, hg-dagger-4x, humanpos-4x, bc-4x   four times the run's training steps
    dexpie-bal3, humanpos-bal3  human ticks weighted to 3x the policy's in total (IWR weights)
    hg-dagger+top    HG-DAgger's data plus the policy ticks the critic rated best (s >= 0.9),
                     no indicator: is the best autonomous data worth training on at all?
    hg-dagger+success  HG-DAgger's data plus every policy tick of the successful episodes
                     (the true outcome, no critic)
    hg-dagger+success-4x  the same, four times the run's training steps: do the added ticks
                     still cost success once the larger dataset is trained as long?
    human-success    human windows forced to s = 1 only in successful episodes (labels'
                     human_override "successful"): a failed demo or correction is scored by
                     the critic, not taught at s = 1 (operators who fail: the mixed population)
    human-critic     no human window forced (human_override "none"): the critic scores all
    bc-success       BC on the successful demos only: is the reference held back by the
                     demonstrations that failed (operators who fail)?
    dexpie-successful-demos, hg-dagger-successful-demos  the method's own data and weights
                     without the demonstrations that failed (DexPIE keeps the run's labels,
                     whose quantiles counted them)
    critic-noise     the run's bags relabelled by critics cross-fitted with observation noise
                     (CRITIC_NOISE x each feature's std; the run's other critic settings),
                     then DexPIE trained on those labels: does a critic that generalises
                     better teach the policy better?
    <variant>-e<N>   a trained variant (or dexpie / hg-dagger / bc retrained) for N passes
                     over its own training samples instead of the run's steps (equal epochs)
    smooth, smooth-4x  the run's labels, s embedded smoothly (optimality_embedding_scale 1, as
                     in the DexPIE authors' code, instead of 1000): does a condition that
                     orders nearby scores let s steer the policy?

Cells are cached under --cells (a finished one is not recomputed). Prints a table and writes
JSON. One training seed and 40 episodes per cell: a difference below ~10 points of a task
is within noise; the pooled column (3 tasks) is the one to read.

    .venv/bin/python benchmarks/label_variants.py --run /path/to/short_run --jobs 2
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from dexpie_experiment.cell_cache import write_json

RESULTS = Path(__file__).parent / "results"
# variant -> (checkpoint in the run, guidance weight w, indicator asked for; None: s = 1)
REUSED = {"dexpie": ("r{R}/policy/policy", 1.5, None),
          "dexpie-w1": ("r{R}/policy/policy", 1.0, None),
          "dexpie-w3": ("r{R}/policy/policy", 3.0, None),
          "dexpie-s0": ("r{R}/policy/policy", 1.0, 0.0),
          "dexpie-null": ("r{R}/policy/policy", 0.0, None),
          "hg-dagger": ("r{R}/hg-dagger/policy", 1.5, None),
          "bc": ("bc_reference/policy", 1.0, None)}
TRAINED = ("strict", "strict-takeover", "cap05", "humanpos", "dexpie-2x", "hg-dagger-2x",
           "dexpie-bal3", "humanpos-bal3", "dexpie-4x", "hg-dagger-4x", "humanpos-4x",
           "bc-4x", "hg-dagger+top", "hg-dagger+success", "hg-dagger+success-4x", "smooth",
           "smooth-4x", "human-success", "human-critic", "bc-success",
           "dexpie-successful-demos", "hg-dagger-successful-demos", "critic-noise")
CRITIC_NOISE = 4.0   # critic-noise: CriticTrainConfig.observation_noise
SMOOTH_EMBEDDING_SCALE = 1.0   # smooth*: the indicator's scale before its sinusoidal embedding
TOP_POLICY_TICKS = 0.9     # hg-dagger+top: policy ticks with s at least this are added
STEP_MULTIPLIERS = {"-2x": 2, "-4x": 4}
VARIANTS = tuple(REUSED) + TRAINED
# "-e<N>": N epochs; the bases it applies to are the trained variants and the three methods
EPOCH_SUFFIX = re.compile(r"^(?P<base>.+)-e(?P<epochs>[1-9][0-9]*)$")
EPOCH_BASES = ("dexpie", "hg-dagger", "bc") + tuple(
    v for v in TRAINED if v[-3:] not in STEP_MULTIPLIERS)


def budget_of(variant: str) -> tuple[str, int, int]:
    """variant -> (base variant, step multiplier, epochs (0: the run's steps x multiplier))."""
    match = EPOCH_SUFFIX.match(variant)
    if match and match["base"] in EPOCH_BASES:
        return match["base"], 1, int(match["epochs"])
    if variant[-3:] in STEP_MULTIPLIERS:
        return variant[:-3], STEP_MULTIPLIERS[variant[-3:]], 0
    return variant, 1, 0


def variant_name(text: str) -> str:
    """argparse type: a known variant or <base>-e<N>."""
    if text in VARIANTS or (EPOCH_SUFFIX.match(text)
                            and EPOCH_SUFFIX.match(text)["base"] in EPOCH_BASES):
        return text
    raise argparse.ArgumentTypeError(
        f"unknown variant {text!r}: one of {', '.join(VARIANTS)}, or <base>-e<N> with base "
        f"in {', '.join(EPOCH_BASES)}")


def takeover_windows(intervention: np.ndarray, horizon: int) -> np.ndarray:
    """(T,) bool: policy ticks whose chunk window t..t+H-1 reaches a policy -> human switch."""
    intervention = np.asarray(intervention, dtype=bool)
    out = np.zeros(len(intervention), dtype=bool)
    for first_human in np.flatnonzero(intervention[1:] & ~intervention[:-1]) + 1:
        out[max(0, first_human - horizon):first_human] = True
    return out & ~intervention


def with_policy_ticks(weights: np.ndarray, added: np.ndarray) -> np.ndarray:
    """HG-DAgger's (T,) weights (1 on demo / human ticks, 0 on policy ticks) with weight 1
    on the ticks `added` ((T,) bool) as well."""
    weights, added = np.asarray(weights, dtype=float), np.asarray(added, dtype=bool)
    if weights.shape != added.shape:
        raise ValueError(f"weights {weights.shape} and added ticks {added.shape} differ")
    return np.maximum(weights, added.astype(float))


# variants that learn from the successful demonstrations only (PolicyTrainConfig.demonstrations)
SUCCESSFUL_DEMO_VARIANTS = ("bc-success", "dexpie-successful-demos", "hg-dagger-successful-demos")
# human-* variants -> the labels' human_override rule
HUMAN_OVERRIDE_VARIANTS = {"human-success": "successful", "human-critic": "none"}


def variant_optimality(variant: str, labels, interventions: dict,
                       successes: dict | None = None) -> dict:
    """episode_id -> (T,) indicator of `variant` from the run's labels (advantages reused);
    successes (episode_id -> bool) is needed by the human-* variants."""
    from dexpie_learning.labels.indicator import (BETA_DIVISOR, MIN_BETA, IndicatorParams,
                                                  continuous_indicator)
    from dexpie_learning.labels.labelling import human_override_applies
    rule = HUMAN_OVERRIDE_VARIANTS.get(variant, "all")
    params = labels.indicator
    if variant.startswith("strict"):
        own = np.concatenate([e.advantages[~e.human_window] for e in labels.episodes.values()])
        low, high = (float(q) for q in np.quantile(own, [0.8, 0.9]))
        beta = (high - low) / BETA_DIVISOR
        params = IndicatorParams(low, high, max(beta, MIN_BETA), beta < MIN_BETA)
    out = {}
    for episode_id, episode in labels.episodes.items():
        intervention = interventions[episode_id]
        override = human_override_applies(rule, (successes or {}).get(episode_id))
        score = continuous_indicator(episode.advantages, intervention, labels.horizon, params,
                                     override)
        if variant == "cap05":
            score = np.where(episode.human_window, 1.0, 0.5 * score)
        if variant.startswith("humanpos"):
            score = episode.human_window.astype(np.float64)
        if variant == "strict-takeover":
            score = np.where(takeover_windows(intervention, labels.horizon), 0.0, score)
        out[episode_id] = score
    return out


def evaluate(policy_dir: Path, task: str, cfg_scale: float, episodes: int, first_seed: int,
             latency_ticks: int, optimality: float | None = None) -> dict:
    from dexpie_experiment.evaluation import EvalConfig, evaluate_policy
    from dexpie_policy.runner import PolicyRunner
    from dexpie_sim.registry import make_task
    deployment = json.loads((policy_dir / "training.json").read_text()).get("deployment") or {}
    runner = PolicyRunner.from_pretrained(policy_dir, torch_threads=1)
    sim = make_task(task)
    report = evaluate_policy(runner, sim, EvalConfig(
        episodes=episodes, first_seed=first_seed, latency_ticks=latency_ticks,
        optimality=deployment.get("optimality") if optimality is None else optimality,
        cfg_scale=cfg_scale), progress=False)
    sim.close()
    return dict(successes=report.successes, episodes=report.episodes,
                mean_steps=report.mean_steps, cfg_scale=cfg_scale, optimality=optimality,
                policy=str(policy_dir))


def last_round_data(pipeline: Path):
    """A finished pipeline's PipelineConfig and the data its last round trained on: demos and
    every round's bags, the episodes with an outcome (what the labels cover)."""
    from dexpie_experiment.pipeline import PipelineConfig
    from dexpie_learning.train.critic_label import labelled_subset
    from dexpie_learning.train.data import load_training_data
    raw = json.loads((pipeline / "pipeline.json").read_text())
    config = PipelineConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    rounds = [pipeline / "rollouts" / f"round_{r:02d}" for r in range(1, config.rounds + 1)]
    demos = pipeline.parents[2] / "demos" / config.task
    data, _ = labelled_subset(load_training_data([demos], rounds, progress=False))
    return config, data


def variant_train_config(variant: str, config) -> tuple[str, object]:
    """The method a variant trains and its training config, from the run's PipelineConfig:
    "-2x" / "-4x" scale the steps, "-e<N>" trains N epochs; the *-successful-demos and
    bc-success variants learn from the successful demonstrations only."""
    method = next((m for m in ("hg-dagger", "bc") if variant.startswith(m)), "policy")
    base, multiplier, epochs = budget_of(variant)
    train_config = config.train_config(method)
    train_config = dataclasses.replace(train_config, steps=multiplier * train_config.steps,
                                       epochs=epochs)
    if base == "smooth":
        train_config = dataclasses.replace(
            train_config, optimality_embedding_scale=SMOOTH_EMBEDDING_SCALE)
    if base in SUCCESSFUL_DEMO_VARIANTS:
        train_config = dataclasses.replace(train_config, demonstrations="successful")
    return method, train_config


def noisy_critic_labels(pipeline: Path, config, cell: Path) -> Path:
    """Critics cross-fitted on the run's last-round bags with observation noise CRITIC_NOISE
    (<cell>/critic) and the labels they give (<cell>/labels, label set "dexpie")."""
    from dexpie_learning.train.critic_label import LabelConfig, label_episodes, train_critics
    labels_dir = cell / "labels"
    if (labels_dir / "labels" / "dexpie.json").exists():
        return labels_dir
    demos = [pipeline.parents[2] / "demos" / config.task]
    rounds = [pipeline / "rollouts" / f"round_{r:02d}" for r in range(1, config.rounds + 1)]
    critic_config = dataclasses.replace(config.critic_config(), observation_noise=CRITIC_NOISE)
    train_critics(critic_config, cell / "critic", demos, rounds, progress=False)
    label_episodes(cell / "critic", labels_dir, "dexpie",
                   LabelConfig(horizon=config.horizon, human_override=config.human_override),
                   demos, rounds, progress=False)
    return labels_dir


def train_variant(variant: str, pipeline: Path, out: Path) -> None:
    from dexpie_learning.labels.store import load_labels
    from dexpie_learning.train import methods, weighting
    config, data = last_round_data(pipeline)
    method, train_config = variant_train_config(variant, config)
    base = budget_of(variant)[0]
    labels = None
    if method == "policy" or base == "hg-dagger+top":
        labels_dir = pipeline / f"r{config.rounds}" / "labels"
        if base == "critic-noise":
            labels_dir = noisy_critic_labels(pipeline, config, out.parent)
        labels = load_labels(labels_dir, "dexpie", [e.episode_id for e in data.episodes])
    if method == "policy":
        scores = variant_optimality(base, labels, {e.episode_id: np.asarray(
            e.intervention, dtype=bool) for e in data.episodes},
            {e.episode_id: bool(e.success) for e in data.episodes})
        labels = dataclasses.replace(labels, episodes={
            i: dataclasses.replace(e, optimality=scores[i]) for i, e in labels.episodes.items()})
    plain = methods.method_weights

    def balanced(method_name, method_config, method_data, method_labels=None):
        _, optimality = plain(method_name, method_config, method_data, method_labels)
        return weighting.iwr_weights([e.intervention for e in method_data.episodes],
                                     method_data.is_demo, 3.0), optimality
    def policy_ticks_added(method_name, method_config, method_data, method_labels=None):
        weights, _ = plain(method_name, method_config, method_data, method_labels)
        if base == "hg-dagger+top":
            added = [labels.episodes[e.episode_id].optimality >= TOP_POLICY_TICKS
                     for e in method_data.episodes]
        else:   # +success: every tick of a successful episode
            added = [np.full(e.num_ticks, bool(e.success)) for e in method_data.episodes]
        return [with_policy_ticks(w, a) for w, a in zip(weights, added)], None
    weigh = None   # the method's own weights
    if base.endswith("-bal3"):
        weigh = balanced
    if base in ("hg-dagger+top", "hg-dagger+success"):
        weigh = policy_ticks_added
    methods.train_method(method, train_config, out, data=data, progress=False, torch_threads=1,
                         labels=labels if method == "policy" else None, weigh=weigh)


def run_cell(args: tuple) -> dict:
    task, variant, run, cells, episodes, first_seed = args
    import torch
    torch.set_num_threads(1)
    pipeline = run / task / "seed0" / "dexpie"
    settings = json.loads((pipeline / "pipeline.json").read_text())
    rounds, latency = settings["rounds"], settings["latency_ticks"]
    cell = cells / task / variant
    result_file = cell / "eval.json"
    if result_file.exists():
        return dict(json.loads(result_file.read_text()), task=task, variant=variant,
                    cached=True)
    start = time.perf_counter()
    optimality = None
    if variant in REUSED:   # (a "-e<N>" variant of these is retrained below)
        relative, cfg_scale, optimality = REUSED[variant]
        policy_dir = pipeline / relative.format(R=rounds)
    else:
        policy_dir, cfg_scale = cell / "policy", 1.5
        if not (policy_dir / "training.json").exists():
            train_variant(variant, pipeline, policy_dir)
    result = evaluate(policy_dir, task, cfg_scale, episodes, first_seed, latency, optimality)
    result["seconds"] = round(time.perf_counter() - start, 1)
    cell.mkdir(parents=True, exist_ok=True)
    write_json(result_file, result)
    print(f"{task:9s} {variant:16s} {result['successes']}/{episodes}", flush=True)
    return dict(result, task=task, variant=variant, cached=False)


def table(results: list[dict], tasks: list[str], variants: list[str]) -> tuple[str, dict]:
    from dexpie_experiment.evaluation import wilson_interval
    lines = [f"{'variant':16s} " + " ".join(f"{t:>9s}" for t in tasks) + "   pooled  95 % CI"]
    pooled = {}
    for variant in variants:
        row = {r["task"]: r for r in results if r["variant"] == variant}
        if set(row) != set(tasks):
            continue
        wins = sum(row[t]["successes"] for t in tasks)
        total = sum(row[t]["episodes"] for t in tasks)
        low, high = wilson_interval(wins, total)
        pooled[variant] = dict(successes=wins, episodes=total, rate=wins / total,
                               ci95=[low, high])
        lines.append(f"{variant:16s} " + " ".join(
            f"{row[t]['successes']:>4d}/{row[t]['episodes']:<4d}" for t in tasks)
            + f"   {wins / total:.2f}   [{low:.2f}, {high:.2f}]")
    return "\n".join(lines), pooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True,
                        help="a finished main-job output folder (seed 0 is used)")
    parser.add_argument("--cells", type=Path, default=None,
                        help="cache of trained variants (default: <run>/label_variants)")
    parser.add_argument("--tasks", nargs="+", default=["relocate", "hammer", "door"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), type=variant_name,
                        help="variants (see the module docstring), or <base>-e<N>")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--first-seed", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "label_variants.json")
    args = parser.parse_args()
    for task in args.tasks:
        if not (args.run / task / "seed0" / "dexpie" / "pipeline.json").exists():
            parser.error(f"{args.run} has no finished pipeline for {task} (seed 0)")
    cells = args.cells or args.run / "label_variants"
    jobs = [(t, v, args.run, cells, args.episodes, args.first_seed)
            for v in args.variants for t in args.tasks]
    # Training variants first: they are the long cells, the evaluations fill in around them.
    jobs.sort(key=lambda job: job[1] in REUSED)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_cell, jobs))
    text, pooled = table(results, args.tasks, args.variants)
    print(text)
    write_json(args.out, dict(run=str(args.run), tasks=args.tasks, episodes=args.episodes,
                              first_seed=args.first_seed, cells=results, pooled=pooled))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
