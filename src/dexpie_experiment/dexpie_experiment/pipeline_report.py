"""What a `ComparisonPipeline` has finished, as one JSON-ready dict (reads cells, computes
nothing): every method's training and evaluation, the DexPIE policy of every round, the
DAgger rounds, the critic's diagnostics and how the indicator splits the data."""
from __future__ import annotations

import dataclasses

import numpy as np

from dexpie_experiment.cell_cache import read_json
from dexpie_learning.train.config import config_to_dict
from dexpie_learning.train.critic_label import DEFAULT_LABEL_SET
from dexpie_learning.train.methods import CONDITIONED_METHODS, METHODS, REFERENCE

EVAL_FIELDS = ("episodes", "successes", "success_rate", "ci95", "mean_steps",
               "mean_steps_success", "mean_hold_fraction", "jump_ratio", "eval_seconds")


def method_row(method: str, policy_dir, eval_cell) -> dict:
    """One method's finished cells: training (human effort, data, loss) and evaluation."""
    training = read_json(policy_dir / "training.json")
    evaluation = read_json(eval_cell)
    row = dict(method=method, trained=training is not None, evaluated=evaluation is not None)
    if training is not None:
        row.update(human_effort=training["human_effort"], train_episodes=training["episodes"],
                   demo_episodes=training.get("demo_episodes"),
                   rollout_episodes=training.get("rollout_episodes"),
                   samples_trained=training["samples_trained"], train_seconds=training["seconds"],
                   final_loss=training["final_loss"], deployment=training.get("deployment"))
    if evaluation is not None:
        row.update({k: evaluation[k] for k in EVAL_FIELDS})
        row["eval_mode"] = evaluation.get("eval_config", {}).get("mode")
    return row


def pipeline_report(pipeline, methods=None, label_statistics: bool = True) -> dict:
    """methods: rows to report (default: the reference and every pipeline method)."""
    c = pipeline.config
    rows = [method_row(m, pipeline.policy_dir(m), pipeline.method_dir(m) / "eval.json")
            for m in ((REFERENCE, *METHODS) if methods is None else methods)]
    critic = read_json(pipeline.critic_dir(c.rounds) / "training.json")
    rounds = [read_json(pipeline.rollout_folder(r) / "summary.json")
              for r in range(1, c.rounds + 1)]
    return dict(config=dataclasses.asdict(c), rows=rows,
                demos=read_json(pipeline.demo_folder / "complete.json"),
                rounds=[None if r is None else {k: r[k] for k in (
                    "overall", "by_stage", "takeover_reasons", "handback_reasons",
                    "policy", "seeds")} for r in rounds],
                policy_by_round=[method_row("policy", pipeline.policy_dir("policy", r),
                                            pipeline.method_dir("policy", r) / "eval.json")
                                 for r in range(1, c.rounds + 1)],
                critic=None if critic is None else dict(
                    diagnostics=critic["diagnostics"], episodes=critic["episodes"],
                    final_losses=critic["final_losses"], seconds=critic["seconds"]),
                labels=label_stats(pipeline) if label_statistics else None,
                train_configs={m: config_to_dict(c.train_config(m))
                               for m in (REFERENCE, *METHODS)},
                conditioned_methods=list(CONDITIONED_METHODS))


def label_stats(pipeline) -> dict | None:
    """How the indicator splits the data: per group of episodes (demos, successful /
    failed rollouts) and per tick source, the mean s_t, the share with s_t >= 0.5 and
    the mean advantage; the critic's mean |V(o_t+1) - V(o_t)|. None without labels."""
    folder = pipeline.labels_dir(pipeline.config.rounds)
    summary = read_json(folder / "labels.json")
    if summary is None:
        return None
    from dexpie_episode import load_episodes
    from dexpie_learning.labels import load_labels
    labels = load_labels(folder, DEFAULT_LABEL_SET)
    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    demos, _ = load_episodes(pipeline.demo_folder, progress=False)
    rollouts = [e for r in range(1, pipeline.config.rounds + 1)
                for e in load_episodes(pipeline.rollout_folder(r), progress=False)[0]]
    for episode, is_demo in [(e, True) for e in demos] + [(e, False) for e in rollouts]:
        lab = labels.episodes.get(episode.episode_id)
        if lab is None:
            continue
        if is_demo:
            keys = ["demos"]
        else:
            outcome = "successful" if episode.success else "failed"
            human = np.asarray(episode.intervention, bool)
            keys = [f"rollouts {outcome}"]
            groups.setdefault(f"rollout ticks {outcome}, policy", []).append(
                (lab.optimality[~human], lab.advantages[~human]))
            groups.setdefault(f"rollout ticks {outcome}, human", []).append(
                (lab.optimality[human], lab.advantages[human]))
        for key in keys:
            groups.setdefault(key, []).append((lab.optimality, lab.advantages))
    stats = {}
    for key, parts in groups.items():
        s = np.concatenate([p[0] for p in parts])
        a = np.concatenate([p[1] for p in parts])
        stats[key] = dict(ticks=int(s.size),
                          mean_optimality=float(s.mean()) if s.size else None,
                          share_optimality_ge_half=float((s >= 0.5).mean()) if s.size else None,
                          mean_advantage=float(a.mean()) if a.size else None)
    # Critic noise: a return target moves 1/L per step; a jittery V makes A_t jitter.
    steps = np.concatenate([np.abs(np.diff(e.values)) for e in labels.episodes.values()])
    return dict(indicator=summary["indicator"], not_cross_fitted=summary["not_cross_fitted"],
                episodes=summary["episodes"], groups=stats,
                value_step=dict(mean_abs=float(steps.mean()) if steps.size else None,
                                target_per_step=1.0 / labels.returns.max_episode_steps))
