"""Does the critic generalise to episodes it did not train on, or only fit the ones it did?

For each task and training seed of a finished main-job run, the critics of a round (the
last by default; two cross-fitted halves, each saved with the ids it trained on) value
every episode twice: held out (the other half's critic, what the labels use) and in sample
(the critic that trained on it). Printed and written per task and seed:

- ranking accuracy (same-stage successful-vs-failed pairs, as the run reports it) and the
  value-target correlation, held out and in sample: a critic that fits its own half
  (in sample near 1) but ranks the other at chance memorises episodes;
- per group (demonstration / rollout x outcome): episodes, mean held-out V, mean in-sample
  V and the mean return target (calibration: does V land where the returns are?).

`--retrain STEPS:HIDDEN[:NOISE] ...` also cross-fits fresh critics on the same bags with
other step counts, widths and observation noise (CriticTrainConfig.observation_noise; the
run's other settings) and reports the same for each, to see whether stopping earlier, a
smaller network or noisy inputs generalise better. Nothing is evaluated.

    .venv/bin/python benchmarks/critic_generalization.py --run /path/to/run \\
        --retrain 300:256 1000:64 1000:256:1.0
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from dexpie_experiment.cell_cache import write_json

RESULTS = Path(__file__).parent / "results"
CRITIC_DIRS = ("critic_0", "critic_1")


def summarise(episodes, is_demo: list[bool], held_out: dict, in_sample: dict) -> dict:
    """episodes: CriticEpisodes; held_out / in_sample: episode_id -> (T,) V(o_t)."""
    from dexpie_learning.critic.diagnostics import ranking_accuracy, value_target_correlation
    groups = {}
    for episode, demo in zip(episodes, is_demo):
        key = f"{'demo' if demo else 'rollout'} {'success' if episode.success else 'failure'}"
        group = groups.setdefault(key, dict(episodes=0, held_out=[], in_sample=[], target=[]))
        group["episodes"] += 1
        group["held_out"].append(held_out[episode.episode_id])
        group["in_sample"].append(in_sample[episode.episode_id])
        group["target"].append(episode.return_target)
    mean = lambda arrays: float(np.mean(np.concatenate(arrays)))   # noqa: E731
    return dict(
        episodes=len(episodes), successes=sum(e.success for e in episodes),
        held_out=dict(ranking=ranking_accuracy(held_out, episodes).accuracy,
                      correlation=value_target_correlation(held_out, episodes)),
        in_sample=dict(ranking=ranking_accuracy(in_sample, episodes).accuracy,
                       correlation=value_target_correlation(in_sample, episodes)),
        groups={key: dict(episodes=g["episodes"], held_out_value=mean(g["held_out"]),
                          in_sample_value=mean(g["in_sample"]), target=mean(g["target"]))
                for key, g in sorted(groups.items())})


def critic_values(critic_dir: Path, data) -> tuple[list, dict, dict]:
    """The run's CriticEpisodes of `data` and their held-out and in-sample values."""
    from dexpie_learning.critic.checkpoint import load_critic
    from dexpie_learning.critic.data import critic_episode
    from dexpie_learning.critic.returns import ReturnConfig
    critics = [load_critic(critic_dir / name) for name in CRITIC_DIRS]
    metadata = critics[0][1]
    returns = ReturnConfig(**metadata["returns"])
    episodes = [critic_episode(e, returns, metadata["use_object_state"],
                               tuple(metadata["cameras"])) for e in data.episodes]
    trained_on = [set(meta["trained_on"]) for _, meta in critics]
    held_out, in_sample = {}, {}
    for episode in episodes:
        mine = 0 if episode.episode_id in trained_on[0] else 1
        if episode.episode_id not in trained_on[mine]:
            raise ValueError(f"{critic_dir}: episode {episode.episode_id} is in neither "
                             "critic's training half (other bags than the critic's?)")
        in_sample[episode.episode_id] = critics[mine][0].episode_values(episode)
        held_out[episode.episode_id] = critics[1 - mine][0].episode_values(episode)
    return episodes, held_out, in_sample


def pipeline_summary(run: Path, task: str, seed: int, round_index: int | None,
                     retrain: list[tuple[int, int, float]]) -> dict:
    from dexpie_learning.train.critic_label import (CriticTrainConfig, labelled_subset,
                                                    train_critics)
    from dexpie_learning.train.data import load_training_data
    pipeline = run / task / f"seed{seed}" / "dexpie"
    rounds = sorted((pipeline / "rollouts").glob("round_*"))
    round_index = round_index or len(rounds)
    rollouts = rounds[:round_index]
    critic_dir = pipeline / f"r{round_index}" / "critic"
    data, _ = labelled_subset(load_training_data([run / "demos" / task], rollouts,
                                                 progress=False))
    episodes, held_out, in_sample = critic_values(critic_dir, data)
    out = dict(round=round_index, run_critic=summarise(episodes, data.is_demo, held_out,
                                                       in_sample))
    config = CriticTrainConfig(**json.loads((critic_dir / "training.json").read_text())["config"])
    for steps, hidden, noise in retrain:
        with tempfile.TemporaryDirectory() as folder:
            train_critics(dataclasses.replace(config, steps=steps, hidden_size=hidden,
                                              observation_noise=noise),
                          Path(folder), [run / "demos" / task], rollouts, progress=False)
            episodes, held_out, in_sample = critic_values(Path(folder), data)
        out[retrained_name(steps, hidden, noise)] = summarise(episodes, data.is_demo,
                                                              held_out, in_sample)
    return out


def lines_for(name: str, summary: dict) -> list[str]:
    lines = []
    for critic, s in summary.items():
        if not isinstance(s, dict):
            continue
        lines.append(f"== {name} r{summary['round']}, {critic}: {s['successes']}/{s['episodes']} "
                     f"successful episodes; ranking held out {s['held_out']['ranking']:.2f} / "
                     f"in sample {s['in_sample']['ranking']:.2f}; correlation "
                     f"{s['held_out']['correlation']:+.2f} / {s['in_sample']['correlation']:+.2f}")
        for key, g in s["groups"].items():
            lines.append(f"     {key:17s} n {g['episodes']:3d}  V held out {g['held_out_value']:+.2f}"
                         f"  in sample {g['in_sample_value']:+.2f}  target {g['target']:+.2f}")
    return lines


def retrained_name(steps: int, hidden: int, noise: float) -> str:
    return f"retrained {steps} steps, hidden {hidden}, noise {noise:g}"


def retrain_setting(text: str) -> tuple[int, int, float]:
    """"STEPS:HIDDEN" or "STEPS:HIDDEN:NOISE" -> (steps, hidden, noise; 0 when omitted)."""
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        steps, hidden = int(parts[0]), int(parts[1])
        noise = float(parts[2]) if len(parts) == 3 else 0.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected STEPS:HIDDEN[:NOISE], got {text!r}") from None
    if steps < 1 or hidden < 1 or not 0 <= noise < float("inf"):
        raise argparse.ArgumentTypeError(f"STEPS and HIDDEN must be positive and NOISE a "
                                         f"finite number >= 0, got {text!r}")
    return steps, hidden, noise


def main() -> None:
    import torch
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished main-job folder")
    parser.add_argument("--tasks", nargs="+", default=["relocate", "door", "hammer"])
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="training seeds (default: every seed folder of the run)")
    parser.add_argument("--round", type=int, default=None, help="critic round (default: last)")
    parser.add_argument("--retrain", type=retrain_setting, nargs="*", default=[],
                        metavar="STEPS:HIDDEN[:NOISE]")
    parser.add_argument("--out", type=Path, default=RESULTS / "critic_generalization.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for task in args.tasks:
        seeds = args.seeds if args.seeds is not None else sorted(
            int(p.name[4:]) for p in (args.run / task).glob("seed*"))
        for seed in seeds:
            name = f"{task}/seed{seed}"
            pipeline = args.run / task / f"seed{seed}" / "dexpie"
            rounds = len(list((pipeline / "rollouts").glob("round_*")))
            if not (pipeline / f"r{args.round or rounds}" / "critic" / "training.json").exists():
                print(f"== {name}: no finished critic of round {args.round or rounds} (skipped)")
                continue
            results[name] = pipeline_summary(args.run, task, seed, args.round, args.retrain)
            print("\n".join(lines_for(name, results[name])), flush=True)
    write_json(args.out, dict(run=str(args.run), retrain=args.retrain, pipelines=results))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
