"""The DexPIE experiment in the twin as resumable cells: operator demos -> BC reference ->
DAgger rounds with interventions -> cross-fitted critic -> labels -> every method trained on
the same data -> evaluation without interventions from the same seeded initial states.

Every cell is cached under `work` and never recomputed; a crash or kill loses at most the
cell in progress (bag folders, critics and labels are built in a `*.partial` folder and
renamed when complete; policy training resumes from its last saved training state). A cell
is computed under a `<cell>.lock` file (holder's pid), so several processes can share one
work folder (e.g. different `methods` orders): a process waits for a cell another live
process is computing and then reads it; a lock left by a dead process is taken over.

    work/demos/                      operator demonstrations (seeds first_demo_seed..)
    work/bc_reference/policy, eval.json   BC on demos (round-1 rollout policy, `bc` row)
    work/rollouts/round_01/          DAgger bags of round 1 + summary.json
    work/r1/critic/                  critics on demos + rounds 1..1 (training.json: ranking)
    work/r1/labels/labels/dexpie.*   advantages / indicators (+ histogram PNG)
    work/r1/<method>/policy, eval.json    a method trained on demos + rounds 1..1

With rounds > 1, round r+1 is collected with the DexPIE policy of r<r>/policy.

    pipeline = ComparisonPipeline(PipelineConfig(task="relocate"), Path("runs/cmp"))
    pipeline.run()            # everything, in order
    pipeline.report()         # rows of the finished cells only (no computation)
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexpie_learning.cell_cache import (cell_lock, fresh_partial, read_json, torch_threads,
                                        write_json)

from dexpie_learning.train.config import config_to_dict
from dexpie_learning.train.critic_label import (DEFAULT_LABEL_SET, CriticTrainConfig,
                                                LabelConfig, label_episodes, train_critics)
from dexpie_learning.train.methods import CONDITIONED_METHODS, POLICY_METHODS, train_method

# DexPIE first: when time runs out, the cells that matter most are the ones already done.
METHODS = ("policy", "hg-dagger", "iwr", "filtered-bc", "binary-indicator", "awr")
REFERENCE = "bc"


@dataclass(frozen=True)
class PipelineConfig:
    """Seeds are fixed, so the dataset is fixed. first_rollout_seed + 1000 * (round - 1) + i
    seeds rollout i of a round; evaluation seeds start at first_eval_seed (disjoint)."""
    task: str = "relocate"
    demos: int = 10
    first_demo_seed: int = 0
    rounds: int = 1
    rollouts: int = 40
    first_rollout_seed: int = 300_000
    stage_mix: float = 0.5
    latency_ticks: int = 2
    eval_episodes: int = 50
    first_eval_seed: int = 100_000
    eval_mode: str = "async"
    methods: tuple[str, ...] = METHODS
    train_steps: int = 2000
    hidden_size: int = 512
    num_layers: int = 3
    batch_size: int = 256
    horizon: int = 16
    train_seed: int = 0
    critic_steps: int = 3000
    critic_hidden_size: int = 256
    critic_batch_size: int = 256
    critic_num_bins: int = 201
    torch_threads: int = 1

    def __post_init__(self):
        for name in ("demos", "rounds", "rollouts", "eval_episodes", "train_steps", "hidden_size",
                     "num_layers", "batch_size", "horizon", "critic_steps", "critic_hidden_size",
                     "critic_batch_size", "torch_threads"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown methods {unknown} (known: {list(METHODS)})")
        if not 0 <= self.stage_mix <= 1:
            raise ValueError(f"stage_mix must be in [0, 1], got {self.stage_mix}")
        if self.first_rollout_seed < self.first_demo_seed + self.demos:
            raise ValueError("rollout seeds must not overlap the demonstration seeds")

    def train_config(self, method: str):
        """The same training budget and model size for every method."""
        return POLICY_METHODS[method](steps=self.train_steps, hidden_size=self.hidden_size,
                                      num_layers=self.num_layers, batch_size=self.batch_size,
                                      horizon=self.horizon, seed=self.train_seed)

    def critic_config(self) -> CriticTrainConfig:
        return CriticTrainConfig(steps=self.critic_steps, hidden_size=self.critic_hidden_size,
                                 batch_size=self.critic_batch_size,
                                 num_bins=self.critic_num_bins, seed=self.train_seed)


class ComparisonPipeline:
    def __init__(self, config: PipelineConfig, work: Path, progress: bool = True,
                 log=print):
        self.config, self.work, self.progress, self.log = config, Path(work), progress, log
        self.work.mkdir(parents=True, exist_ok=True)
        self._check_work_config()

    def _check_work_config(self) -> None:
        """A work folder belongs to one dataset: refuse to mix cells of different settings
        (methods and evaluation settings may change; they do not alter cached cells)."""
        path = self.work / "pipeline.json"
        mine = dataclasses.asdict(self.config)
        free = ("methods", "torch_threads")
        if path.exists():
            cached = json.loads(path.read_text())
            differ = sorted(k for k in mine if k not in free and cached.get(k) != mine[k]
                            and not (isinstance(mine[k], tuple) and cached.get(k) == list(mine[k])))
            if differ:
                raise ValueError(f"{self.work} holds cells made with other settings: "
                                 + ", ".join(f"{k}={cached.get(k)!r} (now {mine[k]!r})"
                                             for k in differ))
        else:
            write_json(path, mine)

    # ---- cells -------------------------------------------------------------------------
    @property
    def demo_folder(self) -> Path:
        return self.work / "demos"

    def rollout_folder(self, round_index: int) -> Path:
        return self.work / "rollouts" / f"round_{round_index:02d}"

    def method_dir(self, method: str, rounds: int | None = None) -> Path:
        if method == REFERENCE:
            return self.work / "bc_reference"
        return self.work / f"r{rounds or self.config.rounds}" / method

    def critic_dir(self, rounds: int) -> Path:
        return self.work / f"r{rounds}" / "critic"

    def labels_dir(self, rounds: int) -> Path:
        return self.work / f"r{rounds}" / "labels"

    def collect_demos(self) -> Path:
        final = self.demo_folder
        if (final / "complete.json").exists():
            return final
        with cell_lock(final):
            if (final / "complete.json").exists():
                return final
            partial = fresh_partial(final)
            self._record_demos(partial)
            partial.rename(final)
        return final

    def _record_demos(self, partial: Path) -> None:
        from dexpie_learning.sim_collection import record_operator_demo
        from dexpie_sim.registry import make_operator, make_task
        from dexpie_sim.stages import StageLibrary
        c = self.config
        task = make_task(c.task)
        library = StageLibrary(task, make_operator(c.task, task, seed=0))
        operator = make_operator(c.task, task, seed=1)
        seeds = range(c.first_demo_seed, c.first_demo_seed + c.demos)
        self.log(f"[demos] {c.demos} operator demonstrations of {c.task}")
        episodes = [record_operator_demo(library, operator, seed, partial) for seed in seeds]
        task.close()
        write_json(partial / "complete.json", dict(
            seeds=list(seeds), successes=sum(e.success for e in episodes),
            steps=sum(e.steps for e in episodes)))

    def train(self, method: str, rounds: int | None = None) -> Path:
        """Checkpoint folder of `method` trained on demos (+ rollouts of rounds 1..rounds)."""
        rounds = rounds or self.config.rounds
        out = self.method_dir(method, rounds) / "policy"
        if (out / "training.json").exists():
            return out
        demos = [self.collect_demos()]
        rollouts = [] if method == REFERENCE else [self.collect_round(r)
                                                  for r in range(1, rounds + 1)]
        labels_dir = self.label(rounds) if method in ("awr", "binary-indicator",
                                                      "policy") else None
        with cell_lock(out):
            if (out / "training.json").exists():
                return out
            self.log(f"[train] {method} on {len(rollouts)} round(s) of rollouts -> {out}")
            out.mkdir(parents=True, exist_ok=True)
            train_method(method, self.config.train_config(method), out, demos, rollouts,
                         labels_dir=labels_dir, progress=self.progress,
                         torch_threads=self.config.torch_threads)
        return out

    def collect_round(self, round_index: int) -> Path:
        final = self.rollout_folder(round_index)
        if (final / "summary.json").exists():
            return final
        policy_dir = (self.train(REFERENCE) if round_index == 1
                      else self.train("policy", round_index - 1))
        with cell_lock(final):
            if not (final / "summary.json").exists():
                self._collect_round(round_index, policy_dir, final)
        return final

    def _collect_round(self, round_index: int, policy_dir: Path, final: Path) -> None:
        from dexpie_learning.dagger import collect_dagger_round
        from dexpie_learning.dagger_report import summarize_round
        from dexpie_policy.runner import PolicyRunner
        from dexpie_sim.registry import task_spec
        c = self.config
        runner = PolicyRunner.from_pretrained(policy_dir, torch_threads=c.torch_threads)
        first = c.first_rollout_seed + 1000 * (round_index - 1)
        seeds = list(range(first, first + c.rollouts))
        partial = fresh_partial(final)
        self.log(f"[rollouts] round {round_index}: {c.rollouts} DAgger episodes with "
                 f"{policy_dir}")
        summaries = collect_dagger_round(runner, c.task, partial, seeds, stage_mix=c.stage_mix,
                                         latency_ticks=c.latency_ticks, progress=self.progress)
        for summary in summaries:   # bag paths as they will be once the folder is renamed
            summary.path = summary.path.replace(str(partial), str(final))
        report = summarize_round(c.task, summaries, task_spec(c.task).stages)
        write_json(partial / "summary.json", dict(report.to_dict(), policy=str(policy_dir),
                                                   seeds=seeds))
        partial.rename(final)

    def train_critic(self, rounds: int) -> Path:
        final = self.critic_dir(rounds)
        if (final / "training.json").exists():
            return final
        demos = [self.collect_demos()]
        rollouts = [self.collect_round(r) for r in range(1, rounds + 1)]
        with cell_lock(final):
            if not (final / "training.json").exists():
                self._train_critic(rounds, demos, rollouts, final)
        return final

    def _train_critic(self, rounds: int, demos: list, rollouts: list, final: Path) -> None:
        partial = fresh_partial(final)
        self.log(f"[critic] cross-fitted critics on demos + {rounds} round(s)")
        with torch_threads(self.config.torch_threads):
            summary = train_critics(self.config.critic_config(), partial, demos, rollouts,
                                    progress=self.progress)
        self.log(f"[critic] held-out ranking accuracy "
                 f"{summary['diagnostics']['ranking_accuracy']:.3f} over "
                 f"{summary['diagnostics']['ranking_pairs']} pairs")
        partial.rename(final)

    def label(self, rounds: int) -> Path:
        final = self.labels_dir(rounds)
        if (final / "labels.json").exists():
            return final
        critic = self.train_critic(rounds)
        demos = [self.collect_demos()]
        rollouts = [self.collect_round(r) for r in range(1, rounds + 1)]
        with cell_lock(final):
            if not (final / "labels.json").exists():
                self._label(rounds, critic, demos, rollouts, final)
        return final

    def _label(self, rounds: int, critic: Path, demos: list, rollouts: list,
               final: Path) -> None:
        partial = fresh_partial(final)
        self.log(f"[labels] advantages and indicators for {rounds} round(s)")
        with torch_threads(self.config.torch_threads):
            summary = label_episodes(critic, partial, DEFAULT_LABEL_SET,
                                     LabelConfig(horizon=self.config.horizon), demos, rollouts,
                                     progress=self.progress)
        summary["labels"] = summary["labels"].replace(str(partial), str(final))
        write_json(partial / "labels.json", summary)
        partial.rename(final)

    def evaluate(self, method: str) -> dict:
        cell = self.method_dir(method) / "eval.json"
        if cell.exists():
            return json.loads(cell.read_text())
        policy_dir = self.train(method)
        with cell_lock(cell):
            if not cell.exists():
                self._evaluate(method, policy_dir, cell)
        return json.loads(cell.read_text())

    def _evaluate(self, method: str, policy_dir: Path, cell: Path) -> None:
        from dexpie_learning.evaluation import EvalConfig, evaluate_policy
        from dexpie_policy.runner import PolicyRunner
        from dexpie_sim.registry import make_task
        c = self.config
        training = json.loads((policy_dir / "training.json").read_text())
        deployment = training.get("deployment") or {}
        eval_config = EvalConfig(episodes=c.eval_episodes, first_seed=c.first_eval_seed,
                                 mode=c.eval_mode, latency_ticks=c.latency_ticks,
                                 optimality=deployment.get("optimality"),
                                 cfg_scale=deployment.get("cfg_scale", EvalConfig.cfg_scale))
        self.log(f"[eval] {method}: {c.eval_episodes} episodes, {c.eval_mode}, "
                 f"d = {c.latency_ticks}")
        runner = PolicyRunner.from_pretrained(policy_dir, torch_threads=c.torch_threads)
        task = make_task(c.task)
        start = time.perf_counter()
        report = evaluate_policy(runner, task, eval_config, progress=self.progress)
        task.close()
        result = dict(report.to_dict(), method=method, eval_config=dataclasses.asdict(eval_config),
                      eval_seconds=time.perf_counter() - start)
        write_json(cell, result)
        self.log(f"[eval] {method}: {report.successes}/{report.episodes} "
                 f"[{report.ci95[0]:.2f}, {report.ci95[1]:.2f}]")

    def run(self) -> dict:
        """Every cell in order: reference, rounds, critic + labels, DexPIE, then baselines
        (each trained and evaluated before the next is started)."""
        self.evaluate(REFERENCE)
        self.label(self.config.rounds)
        for method in self.config.methods:
            self.evaluate(method)
        return self.report()

    # ---- report (reads finished cells only) ------------------------------------------------
    def report(self) -> dict:
        c = self.config
        rows = []
        for method in (REFERENCE, *METHODS):
            policy_dir = self.method_dir(method) / "policy"
            training = read_json(policy_dir / "training.json")
            evaluation = read_json(self.method_dir(method) / "eval.json")
            row = dict(method=method, trained=training is not None,
                       evaluated=evaluation is not None)
            if training is not None:
                row.update(human_effort=training["human_effort"],
                           train_episodes=training["episodes"],
                           samples_trained=training["samples_trained"],
                           train_seconds=training["seconds"],
                           final_loss=training["final_loss"],
                           deployment=training.get("deployment"))
            if evaluation is not None:
                row.update({k: evaluation[k] for k in (
                    "episodes", "successes", "success_rate", "ci95", "mean_steps",
                    "mean_steps_success", "mean_hold_fraction", "jump_ratio", "eval_seconds")})
            rows.append(row)
        critic = read_json(self.critic_dir(c.rounds) / "training.json")
        rounds = [read_json(self.rollout_folder(r) / "summary.json")
                  for r in range(1, c.rounds + 1)]
        return dict(config=dataclasses.asdict(c), rows=rows,
                    demos=read_json(self.demo_folder / "complete.json"),
                    rounds=[None if r is None else {k: r[k] for k in (
                        "overall", "by_stage", "takeover_reasons", "handback_reasons",
                        "policy", "seeds")} for r in rounds],
                    critic=None if critic is None else dict(
                        diagnostics=critic["diagnostics"], episodes=critic["episodes"],
                        final_losses=critic["final_losses"], seconds=critic["seconds"]),
                    labels=self.label_statistics(),
                    train_configs={m: config_to_dict(c.train_config(m))
                                   for m in (REFERENCE, *METHODS)},
                    conditioned_methods=list(CONDITIONED_METHODS))

    def label_statistics(self) -> dict | None:
        """How the indicator splits the data: per group of episodes (demos, successful /
        failed rollouts) and per tick source, the mean s_t, the share with s_t >= 0.5 and
        the mean advantage; the critic's mean |V(o_t+1) - V(o_t)|. None without labels."""
        folder = self.labels_dir(self.config.rounds)
        summary = read_json(folder / "labels.json")
        if summary is None:
            return None
        from dexpie_learning.episode import load_episodes
        from dexpie_learning.labels import load_labels
        labels = load_labels(folder, DEFAULT_LABEL_SET)
        groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        demos, _ = load_episodes(self.demo_folder)
        rollouts = [e for r in range(1, self.config.rounds + 1)
                    for e in load_episodes(self.rollout_folder(r))[0]]
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
