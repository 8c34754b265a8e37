"""DexPIE vs baselines on one fixed dataset of operator-corrected rollouts in the twin.

Per task: operator demos -> BC reference -> DAgger round(s) with the simulated operator
intervening (half of the episodes from intermediate stages, async, d ticks) -> cross-fitted
critic (held-out ranking accuracy) -> labels -> DexPIE (continuous indicator, deployed with
s = 1 and CFG w = 1.5) and every baseline trained on the SAME data with the same steps and
size (bc: demos only = the reference) -> evaluation without interventions from the same
seeded initial states. Reports success with 95 % Wilson CI, mean steps and the human effort
of each method's data (demo steps + intervention steps).

Resumable: every finished cell lives under --work (dexpie_experiment.pipeline) and
is never recomputed. --report-only prints/writes the table from the finished cells only.

    .venv/bin/python benchmarks/method_comparison.py [--task relocate] [--demos 10]
        [--rounds 1] [--rollouts 40] [--eval-episodes 50] [--steps 2000] [--hidden-size 512]
        [--methods policy hg-dagger ...] [--work runs/bench_method_comparison] [--report-only]
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

from dexpie_experiment.cell_cache import cell_lock, read_json, write_json
from dexpie_experiment.pipeline import (METHODS, REFERENCE, ComparisonPipeline,
                                                 PipelineConfig)
from dexpie_policy.runner import PolicyRunner
from dexpie_sim.registry import TASK_NAMES

RESULTS = Path(__file__).resolve().parent / "results"
# The DexPIE checkpoint evaluated under other conditions: does the indicator steer it?
# (name -> (optimality asked for, None = the learned null condition; cfg_scale))
CONDITIONS = {"s=1, w=1 (no guidance)": (1.0, 1.0), "s=0, w=1.5": (0.0, 1.5),
              "null condition": (None, 1.0)}
LABELS = {"bc": "BC (demos, reference)", "policy": "DexPIE (continuous s, w=1.5)",
          "hg-dagger": "HG-DAgger", "iwr": "IWR", "filtered-bc": "filtered BC",
          "binary-indicator": "binary indicator", "awr": "AWR",
          "hg-dagger-success": "HG-DAgger, successful episodes only"}


def parse_args(argv=None) -> argparse.Namespace:
    d = PipelineConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default=d.task, choices=TASK_NAMES)
    parser.add_argument("--demos", type=int, default=d.demos)
    parser.add_argument("--rounds", type=int, default=d.rounds)
    parser.add_argument("--rollouts", type=int, default=d.rollouts, help="DAgger episodes per round")
    parser.add_argument("--stage-mix", type=float, default=d.stage_mix)
    parser.add_argument("--latency-ticks", type=int, default=d.latency_ticks)
    parser.add_argument("--eval-episodes", type=int, default=d.eval_episodes)
    parser.add_argument("--steps", type=int, default=d.train_steps, help="policy training steps (all methods)")
    parser.add_argument("--hidden-size", type=int, default=d.hidden_size)
    parser.add_argument("--num-layers", type=int, default=d.num_layers)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--horizon", type=int, default=d.horizon)
    parser.add_argument("--critic-steps", type=int, default=d.critic_steps)
    parser.add_argument("--critic-hidden-size", type=int, default=d.critic_hidden_size)
    parser.add_argument("--critic-batch-size", type=int, default=d.critic_batch_size)
    parser.add_argument("--critic-bins", type=int, default=d.critic_num_bins)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                        help="methods to train/evaluate in this process (in this order)")
    parser.add_argument("--torch-threads", type=int, default=d.torch_threads)
    parser.add_argument("--work", type=Path, default=Path("runs/bench_method_comparison"))
    parser.add_argument("--out", type=Path, default=RESULTS / "method_comparison.json",
                        help="JSON path; .md and .png (and _values/_indicators.png) beside it")
    parser.add_argument("--report-only", action="store_true",
                        help="compute nothing: table from the finished cells")
    parser.add_argument("--diagnostics", action="store_true",
                        help="also evaluate the DexPIE checkpoint under other conditions "
                             "(s=1 without guidance, s=0, the null condition)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def pipeline_config(args) -> PipelineConfig:
    return PipelineConfig(
        task=args.task, demos=args.demos, rounds=args.rounds, rollouts=args.rollouts,
        stage_mix=args.stage_mix, latency_ticks=args.latency_ticks,
        eval_episodes=args.eval_episodes, methods=tuple(args.methods), train_steps=args.steps,
        hidden_size=args.hidden_size, num_layers=args.num_layers, batch_size=args.batch_size,
        horizon=args.horizon, critic_steps=args.critic_steps,
        critic_hidden_size=args.critic_hidden_size, critic_batch_size=args.critic_batch_size,
        critic_num_bins=args.critic_bins, torch_threads=args.torch_threads)


class NullConditionRunner(PolicyRunner):
    """A conditioned policy always sampled with the learned null condition (no indicator)."""

    def predict_chunk(self, *args, optimality=None, cfg_scale=1.0, **kwargs):
        return super().predict_chunk(*args, optimality=None, cfg_scale=1.0, **kwargs)


def condition_cell(pipeline: ComparisonPipeline, name: str) -> Path:
    slug = name.split(" (")[0].replace(", ", "_").replace("=", "").replace(" ", "_")
    return pipeline.method_dir("policy") / f"eval_{slug}.json"


def evaluate_conditions(pipeline: ComparisonPipeline, progress: bool) -> None:
    """Cached cells: the DexPIE checkpoint on the same evaluation seeds under CONDITIONS."""
    from dexpie_experiment.evaluation import EvalConfig, evaluate_policy
    from dexpie_policy.checkpoint import load_policy
    from dexpie_sim.registry import make_task
    c = pipeline.config
    policy_dir = pipeline.train("policy")
    for name, (optimality, cfg_scale) in CONDITIONS.items():
        cell = condition_cell(pipeline, name)
        with cell_lock(cell):
            if cell.exists():
                continue
            eval_config = EvalConfig(episodes=c.eval_episodes, first_seed=c.first_eval_seed,
                                     mode=c.eval_mode, latency_ticks=c.latency_ticks,
                                     optimality=optimality, cfg_scale=cfg_scale)
            runner_class = PolicyRunner if optimality is not None else NullConditionRunner
            runner = runner_class(*load_policy(policy_dir), torch_threads=c.torch_threads)
            task = make_task(c.task)
            print(f"[eval] DexPIE checkpoint, {name}")
            report = evaluate_policy(runner, task, eval_config, progress=progress)
            task.close()
            write_json(cell, dict({k: v for k, v in report.to_dict().items() if k != "results"},
                                  condition=name, optimality=optimality, cfg_scale=cfg_scale))


def condition_rows(pipeline: ComparisonPipeline) -> list[dict]:
    rows = [read_json(condition_cell(pipeline, name)) for name in CONDITIONS]
    return [r for r in rows if r is not None]


def markdown(report: dict) -> str:
    c = report["config"]
    lines = [f"# Method comparison: {c['task']}", "",
             f"{c['demos']} operator demos, {c['rounds']} DAgger round(s) x {c['rollouts']} "
             f"rollouts (stage mix {c['stage_mix']}, d = {c['latency_ticks']}); every policy "
             f"{c['train_steps']} steps, hidden {c['hidden_size']} x {c['num_layers']}, batch "
             f"{c['batch_size']}, H = {c['horizon']}; evaluated on {c['eval_episodes']} seeded "
             f"initial states (seeds {c['first_eval_seed']}..), {c['eval_mode']}, no "
             f"interventions.", ""]
    critic = report["critic"]
    if critic is not None:
        diag = critic["diagnostics"]
        lines += [f"Critic (cross-fitted, {critic['episodes']} episodes): held-out ranking "
                  f"accuracy **{diag['ranking_accuracy']:.3f}** over {diag['ranking_pairs']} "
                  f"(success, failure) pairs (same start stage: {diag['ranking_same_stage']}), "
                  f"value/target correlation {diag['value_target_correlation']:.3f}.", ""]
    for index, rnd in enumerate(report["rounds"], start=1):
        if rnd is not None:
            o = rnd["overall"]
            lines += [f"Round {index}: {o['successes']}/{o['episodes']} episodes solved (any "
                      f"controller), intervention rate {o['intervention_rate']:.3f}, "
                      f"{o['takeovers']} takeovers in {o['episodes_with_intervention']} "
                      f"episodes, {o['human_steps']} human steps.", ""]
    lines += ["| method | success | rate | 95 % CI | mean steps | human steps (demo + interv.) "
              "| train episodes |", "|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        name = LABELS.get(r["method"], r["method"])
        if r["trained"]:
            e = r["human_effort"]
            effort = f"{e['human_steps']} ({e['demo_steps']} + {e['intervention_steps']})"
            episodes = str(r["train_episodes"])
        else:
            effort = episodes = "not trained"
        if r["evaluated"]:
            lines.append(f"| {name} | {r['successes']}/{r['episodes']} | {r['success_rate']:.2f} "
                         f"| [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] | {r['mean_steps']:.1f} | "
                         f"{effort} | {episodes} |")
        else:
            lines.append(f"| {name} | missing | | | | {effort} | {episodes} |")
    labels = report["labels"]
    if labels is not None:
        ind = labels["indicator"]
        lines += ["", f"Indicator: q_0.6 = {ind['q_low']:.4f}, q_0.8 = {ind['q_high']:.4f}, "
                  f"beta = {ind['beta']:.2e}{' (guarded)' if ind['beta_guarded'] else ''}. "
                  f"Critic smoothness: mean |V(o_t+1) - V(o_t)| = "
                  f"{labels['value_step']['mean_abs']:.4f} per step (a return target moves "
                  f"{labels['value_step']['target_per_step']:.4f}).", "",
                  "| data | ticks | mean s | share s >= 0.5 | mean advantage |",
                  "|---|---|---|---|---|"]
        for key, g in labels["groups"].items():
            if g["ticks"]:
                lines.append(f"| {key} | {g['ticks']} | {g['mean_optimality']:.3f} | "
                             f"{g['share_optimality_ge_half']:.3f} | {g['mean_advantage']:+.4f} |")
    if report.get("conditions"):
        lines += ["", "The DexPIE checkpoint on the same seeds under other conditions (does the "
                  "indicator steer the policy?):", "",
                  "| condition | success | rate | 95 % CI | mean steps |", "|---|---|---|---|---|"]
        lines += [f"| {r['condition']} | {r['successes']}/{r['episodes']} | "
                  f"{r['success_rate']:.2f} | [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] | "
                  f"{r['mean_steps']:.1f} |" for r in report["conditions"]]
    missing = [r["method"] for r in report["rows"] if not r["evaluated"]]
    if missing:
        lines += ["", f"Missing cells (not finished): {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in report["rows"] if r["evaluated"]]
    fig, ax = plt.subplots(figsize=(1.3 * max(len(rows), 3) + 1.5, 3.8), dpi=110)
    x = range(len(rows))
    rates = [r["success_rate"] for r in rows]
    err = [[r["success_rate"] - r["ci95"][0] for r in rows],
           [r["ci95"][1] - r["success_rate"] for r in rows]]
    colors = ["C2" if r["method"] == "policy" else "C7" if r["method"] == REFERENCE else "C0"
              for r in rows]
    ax.bar(x, rates, yerr=err, capsize=4, color=colors)
    ax.set_xticks(list(x), [LABELS.get(r["method"], r["method"]).replace(" (", "\n(")
                            + f"\n{r['human_effort']['human_steps']} human steps"
                            for r in rows], fontsize=7)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("success rate (95% Wilson CI)")
    c = report["config"]
    ax.set_title(f"{c['task']}: {c['demos']} demos + {c['rounds']}x{c['rollouts']} rollouts, "
                 f"{c['eval_episodes']} eval episodes")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    pipeline = ComparisonPipeline(pipeline_config(args), args.work, progress=not args.quiet)
    report = pipeline.report() if args.report_only else pipeline.run()
    if args.diagnostics and not args.report_only:
        evaluate_conditions(pipeline, progress=not args.quiet)
    report["conditions"] = condition_rows(pipeline)
    text = markdown(report)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report.update(benchmark="method_comparison", work=str(args.work), machine=platform.platform(),
                  complete=all(r["evaluated"] for r in report["rows"]))
    args.out.write_text(json.dumps(report, indent=2))
    args.out.with_suffix(".md").write_text(text)
    written = [args.out, args.out.with_suffix(".md")]
    if any(r["evaluated"] for r in report["rows"]):
        plot(report, args.out.with_suffix(".png"))
        written.append(args.out.with_suffix(".png"))
    rounds = pipeline.config.rounds
    for source, suffix in ((pipeline.critic_dir(rounds) / "values.png", "_values.png"),
                           (pipeline.labels_dir(rounds) / "labels" / "dexpie_histograms.png",
                            "_indicators.png")):
        if source.exists():
            target = args.out.with_name(args.out.stem + suffix)
            shutil.copyfile(source, target)
            written.append(target)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
