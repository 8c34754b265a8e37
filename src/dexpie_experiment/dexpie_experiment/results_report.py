"""The experiment's results: the task x method table (markdown, also printed), the JSON
behind it and the plot of DexPIE's success per round, from `ExperimentSuite.collect()`.

Success is pooled over training seeds (successes and episodes summed, 95 % Wilson interval
of the pooled rate) and listed per seed. Rows trained on the critic's labels (DexPIE, the
binary indicator, AWR, the ablations) show that critic's held-out ranking accuracy (mean over
seeds): a critic that cannot rank makes the indicator noise. Human effort is in human-operated control steps
(demonstration steps + intervention steps of the policy's training data), mean over seeds.
"""
from __future__ import annotations

import json
from pathlib import Path

from dexpie_experiment.evaluation import wilson_interval
from dexpie_experiment.results_headline import headline, headline_lines, plot_headline
from dexpie_learning.train.methods import LABELLED_METHODS


def pool_seeds(per_seed: list[tuple[int, int]]) -> dict:
    """[(successes, episodes) per seed] -> pooled successes / episodes, rate, Wilson 95 % CI,
    and each seed's rate."""
    successes = sum(s for s, _ in per_seed)
    episodes = sum(n for _, n in per_seed)
    if any(s < 0 or s > n for s, n in per_seed):
        raise ValueError(f"successes must be in [0, episodes], got {per_seed}")
    return dict(successes=successes, episodes=episodes,
                rate=successes / episodes if episodes else None,
                ci95=list(wilson_interval(successes, episodes)),
                per_seed_rates=[s / n if n else None for s, n in per_seed])


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _aggregate(entries: list[dict]) -> dict:
    """One table cell group: the entries of one (task, row) over seeds."""
    done = [e for e in entries if e.get("evaluated")]
    trained = [e for e in entries if e.get("trained")]
    pooled = pool_seeds([(e["successes"], e["episodes"]) for e in done])
    effort = {k: _mean([e["human_effort"][k] for e in trained])
              for k in ("human_steps", "demo_steps", "intervention_steps")}
    rounds = max((len(e["intervention_rates"]) for e in entries), default=0)
    return dict(pooled, seeds=[e["seed"] for e in done],
                missing_seeds=[e["seed"] for e in entries if not e.get("evaluated")],
                per_seed=[dict(seed=e["seed"], successes=e["successes"], episodes=e["episodes"],
                               ci95=e["ci95"], mean_steps=e["mean_steps"]) for e in done],
                human_effort=effort if trained else None,
                intervention_rates=[_mean([e["intervention_rates"][r] for e in entries
                                           if len(e["intervention_rates"]) > r])
                                    for r in range(rounds)],
                mean_steps=_mean([e["mean_steps"] for e in done]),
                extra_demos=[e["extra_demos"]["count"] for e in entries
                             if e.get("extra_demos")] or None)


def critic_ranking(results: dict, entries: list[dict]) -> float | None:
    """Mean over seeds of the held-out ranking accuracy of the critic whose labels the
    entries' method trained on (None for methods without labels or no critic yet)."""
    accuracies = []
    for e in entries:
        if e.get("method") not in LABELLED_METHODS:
            continue
        report = results.get("pipelines", {}).get(f"{e['task']}/seed{e['seed']}/{e['variant']}")
        critic = (report or {}).get("critic")
        if critic is not None:
            accuracies.append(critic["diagnostics"]["ranking_accuracy"])
    return _mean(accuracies)


def table(results: dict) -> list[dict]:
    """Per task, per row (in the suite's order) present in the plan: the aggregate over seeds.
    DexPIE's row is its last round; its earlier rounds are in `round_curves`."""
    last = results["rounds"]
    rows = []
    for task in results["config"]["tasks"]:
        for row in results["rows"]:
            entries = [e for e in results["entries"] if e["task"] == task
                       and e["row"] == row["key"] and (e["row"] != "policy" or e["round"] == last)]
            if entries:
                rows.append(dict(task=task, row=row["key"], label=row["label"],
                                 critic_ranking=critic_ranking(results, entries),
                                 **_aggregate(entries)))
    return rows


def round_curves(results: dict) -> dict:
    """Per task: the BC reference (round 0) and DexPIE of each evaluated round, pooled."""
    curves = {}
    for task in results["config"]["tasks"]:
        mine = [e for e in results["entries"] if e["task"] == task and e.get("evaluated")]
        points = {}
        for e in mine:
            if e["row"] in ("bc", "policy") and e["variant"] == "dexpie":
                points.setdefault(e["round"], []).append((e["successes"], e["episodes"]))
        curves[task] = [dict(round=r, **pool_seeds(points[r])) for r in sorted(points)]
    return curves


def _rate(cell: dict) -> str:
    if not cell["episodes"]:
        return "missing"
    text = f"{cell['successes']}/{cell['episodes']} ({cell['rate']:.2f})"
    done, planned = len(cell["seeds"]), len(cell["seeds"]) + len(cell["missing_seeds"])
    return text + (f" ({done} of {planned} seeds done)" if cell["missing_seeds"] else "")


def _effort(effort: dict | None) -> str:
    if effort is None:
        return "not trained"
    return (f"{effort['human_steps']:.0f} ({effort['demo_steps']:.0f} + "
            f"{effort['intervention_steps']:.0f})")


def table_lines(rows: list[dict]) -> list[str]:
    lines = ["| task | method | success (pooled) | 95 % CI | per seed | human steps "
             "(demo + interv.) | interv. rate per round | mean ep. length | critic ranking "
             "(held-out) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]" if r["episodes"] else ""
        per_seed = " · ".join(f"s{p['seed']} {p['successes']}/{p['episodes']}"
                              for p in r["per_seed"])
        rates = " → ".join("?" if x is None else f"{x:.3f}" for x in r["intervention_rates"])
        label = r["label"] + (f" (+{'/'.join(map(str, r['extra_demos']))} demos)"
                              if r["extra_demos"] else "")
        length = "" if r["mean_steps"] is None else f"{r['mean_steps']:.1f}"
        ranking = "–" if r.get("critic_ranking") is None else f"{r['critic_ranking']:.2f}"
        lines.append(f"| {r['task']} | {label} | {_rate(r)} | {ci} | {per_seed} | "
                     f"{_effort(r['human_effort'])} | {rates or '–'} | {length} | {ranking} |")
    return lines


def markdown(results: dict, rows: list[dict], curves: dict, summary: dict,
             labels: dict[str, str]) -> str:
    c, t = results["config"], results["config"]["template"]
    demos = ", ".join(f"{k} {v}" for k, v in c["demos"].items() if k in c["tasks"])
    # Keys added after older results were written hold their defaults there.
    population = t.get("operator_population", "expert")
    budget = (f"{t['train_epochs']} epochs (passes over its own training samples)"
              if t.get("train_epochs") else f"{t['train_steps']} steps")
    lines = ["# DexPIE in the MuJoCo twin: results", "",
             f"Operator population: {population} (dexpie_sim/operators/population.py). "
             f"Operator demos per task: {demos}. {t['rounds']} DAgger round(s) x "
             f"{t['rollouts']} rollouts with the simulated operator intervening (stage mix "
             f"{t['stage_mix']}; round r+1 collected with DexPIE of round r), {t['rollout_mode']} "
             f"execution with d = {t['latency_ticks']} ticks, {t['arm_representation']} arm "
             f"actions. Every policy: {budget}, hidden {t['hidden_size']} x "
             f"{t['num_layers']}, batch {t['batch_size']}, H = {t['horizon']}; critics "
             f"{t['critic_steps']} steps. Evaluation without interventions on "
             f"{t['eval_episodes']} seeded initial states (seeds {t['first_eval_seed']}..) per "
             f"training seed; training seeds {', '.join(map(str, c['seeds']))}. DexPIE is "
             f"deployed with s = 1 and CFG w = 1.5; human windows forced to s = 1: "
             f"{t.get('human_override', 'all')}. Every policy learns from "
             f"{t.get('demonstrations', 'all')} demonstrations (the critic from all). "
             f"Baselines are trained on DexPIE's data "
             f"(same demos, same rollouts). Human steps: demonstration + intervention "
             "control steps in the policy's training data, every demonstration attempt "
             "counted (mean over seeds).", ""]
    lines += table_lines(rows)
    lines += ["", "## Over the tasks", "", *headline_lines(summary, labels)]
    lines += ["", "DexPIE's success per round (round 0 = BC reference), pooled over seeds:", ""]
    for task, points in curves.items():
        lines.append(f"- {task}: " + ", ".join(
            f"r{p['round']} {p['successes']}/{p['episodes']}" for p in points))
    notes = []
    for key, report in results["pipelines"].items():
        critic = report.get("critic")
        if critic is not None:
            d = critic["diagnostics"]
            notes.append(f"- {key}: critic held-out ranking accuracy {d['ranking_accuracy']:.3f} "
                         f"({d['ranking_pairs']} pairs)")
    if notes:
        lines += ["", "Critics (final round):", "", *notes]
    missing = [f"{r['task']} {r['label']}" for r in rows if r["missing_seeds"]]
    if missing:
        lines += ["", "Missing cells (not finished): " + "; ".join(missing) + "."]
    for source in results.get("merged_from", []):
        lines += ["", f"Merged from {source['results']} (the same configuration, computed "
                      f"elsewhere): {len(source['cells'])} evaluation cell(s)."]
    failed = results.get("run", {}).get("failed_cells") or []
    if failed:
        lines += ["", "Failed cells (the data could not make them):", "",
                  *(f"- {f['cell']}: {f['error']}" for f in failed)]
    return "\n".join(lines) + "\n"


def plot_success_vs_round(curves: dict, rounds: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tasks = list(curves)
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.4), dpi=110,
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        points = curves[task]
        reference = next((p for p in points if p["round"] == 0), None)
        if reference is not None:
            ax.axhline(reference["rate"], color="C7", ls="--", label="BC reference")
            ax.axhspan(*reference["ci95"], color="C7", alpha=0.15)
        dexpie = points   # round 0: DexPIE starts from the BC reference
        if any(p["round"] > 0 for p in points):
            ax.errorbar([p["round"] for p in dexpie], [p["rate"] for p in dexpie],
                        yerr=[[p["rate"] - p["ci95"][0] for p in dexpie],
                              [p["ci95"][1] - p["rate"] for p in dexpie]],
                        marker="o", capsize=4, color="C2", label="DexPIE")
        ax.set_xticks(range(0, rounds + 1))
        ax.set_xlim(-0.3, rounds + 0.3)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("DAgger round")
        ax.set_title(task)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("success rate (95 % Wilson CI)")
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_results(folder: Path, results: dict) -> tuple[str, list[Path]]:
    """results.md, results.json, success_vs_round.png, mean_success.png in `folder`; returns
    the printed text (the table and the over-the-tasks section)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows, curves, labels = table(results), round_curves(results), row_labels(results)
    summary = headline(results, labels)
    text = markdown(results, rows, curves, summary, labels)
    (folder / "results.md").write_text(text)
    (folder / "results.json").write_text(json.dumps(
        dict(results, table=rows, round_curves=curves, headline=summary), indent=2))
    plot_success_vs_round(curves, results["rounds"], folder / "success_vs_round.png")
    plot_headline(summary, labels, folder / "mean_success.png")
    paths = [folder / "results.md", folder / "results.json", folder / "success_vs_round.png",
             folder / "mean_success.png"]
    printed = table_lines(rows) + [""] + headline_lines(summary, labels)
    return "\n".join(printed), paths


def row_labels(results: dict) -> dict[str, str]:
    """Row key -> label, in the table's order."""
    return {row["key"]: row["label"] for row in results["rows"]}
