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
    work/extra_demos/n<k>/           k more operator demos (seeds after the demos' seeds)

With rounds > 1, round r+1 is collected with the DexPIE policy of r<r>/policy; each round's
DexPIE policy can be evaluated (`evaluate("policy", rounds=r)`). Several pipelines can share
cells: `demo_folder` (same task, demos and demo seeds), `extra_demo_root` and
`reference_dir` (the BC reference checkpoint, valid where its training config is the same:
it is checked). Every cell this object computes is listed in `computed` with its seconds.

Ablations are configuration: `rollout_mode`/`eval_mode` "sync" (synchronous inference),
`arm_representation` "absolute_joint" (absolute actions), `stage_mix` 0 (initial stage only).

    pipeline = ComparisonPipeline(PipelineConfig(task="relocate"), Path("runs/cmp"))
    pipeline.run()            # everything, in order
    pipeline.report()         # rows of the finished cells only (no computation)
"""
from __future__ import annotations

import dataclasses
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dexpie_experiment.cell_cache import cell_lock, fresh_partial, torch_threads, write_json

from dexpie_experiment.pipeline_report import label_stats, pipeline_report
from dexpie_experiment.pipeline_work import demo_cell, evaluate_checkpoint, record_rollouts
from dexpie_learning.labels import DEFAULT_HUMAN_OVERRIDE, HUMAN_OVERRIDES
from dexpie_learning.train.config import DEMONSTRATION_SELECTIONS, config_to_dict
from dexpie_learning.train.critic_label import (DEFAULT_LABEL_SET, CriticTrainConfig,
                                                LabelConfig, label_episodes, train_critics)
from dexpie_learning.train.methods import METHODS, POLICY_METHODS, REFERENCE, train_method
from dexpie_policy.actions.spec import REPRESENTATIONS
from dexpie_sim.operators.population import POPULATIONS

EXECUTION_MODES = ("async", "naive_async", "sync")


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
    train_epochs: int = 0   # > 0: every method trains for this many passes over its data
    hidden_size: int = 512
    num_layers: int = 3
    batch_size: int = 256
    horizon: int = 16
    train_seed: int = 0
    critic_steps: int = 3000
    critic_hidden_size: int = 256
    critic_batch_size: int = 256
    critic_num_bins: int = 201
    critic_observation_noise: float = 0.0   # CriticTrainConfig.observation_noise
    torch_threads: int = 1
    train_device: str = "cpu"   # where policies are optimised; not part of a cell's identity
    rollout_mode: str = "async"
    arm_representation: str = "relative_joint"
    operator_population: str = "expert"   # who demonstrates and intervenes (population.py)
    human_override: str = DEFAULT_HUMAN_OVERRIDE   # whose human windows get s = 1 (labels)
    # Which demonstrations every policy learns from ("all" attempts or the "successful"
    # ones; PolicyTrainConfig.demonstrations). The critic sees every attempt either way.
    demonstrations: str = "all"

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
        for name in ("rollout_mode", "eval_mode"):
            if getattr(self, name) not in EXECUTION_MODES:
                raise ValueError(f"{name} must be one of {EXECUTION_MODES}, got "
                                 f"{getattr(self, name)!r}")
        if self.arm_representation not in REPRESENTATIONS:
            raise ValueError(f"arm_representation must be one of {REPRESENTATIONS}, got "
                             f"{self.arm_representation!r}")
        if self.train_seed < 0:
            raise ValueError(f"train_seed must be >= 0, got {self.train_seed}")
        if not 0 <= self.critic_observation_noise < float("inf"):
            raise ValueError(f"critic_observation_noise must be a finite number >= 0, got "
                             f"{self.critic_observation_noise!r}")
        if not isinstance(self.train_epochs, int) or self.train_epochs < 0:
            raise ValueError(f"train_epochs must be 0 (train_steps for every method) or a "
                             f"positive integer, got {self.train_epochs!r}")
        if self.human_override not in HUMAN_OVERRIDES:
            raise ValueError(f"human_override must be one of {HUMAN_OVERRIDES}, got "
                             f"{self.human_override!r}")
        if self.demonstrations not in DEMONSTRATION_SELECTIONS:
            raise ValueError(f"demonstrations must be one of {DEMONSTRATION_SELECTIONS}, got "
                             f"{self.demonstrations!r}")
        if self.operator_population not in POPULATIONS:
            raise ValueError(f"operator_population must be one of {sorted(POPULATIONS)}, got "
                             f"{self.operator_population!r}")

    def train_config(self, method: str):
        """The same training budget (steps, or passes over each method's own data when
        train_epochs > 0) and model size for every method."""
        return POLICY_METHODS[method](steps=self.train_steps, epochs=self.train_epochs,
                                      hidden_size=self.hidden_size,
                                      num_layers=self.num_layers, batch_size=self.batch_size,
                                      horizon=self.horizon, seed=self.train_seed,
                                      arm_representation=self.arm_representation,
                                      demonstrations=self.demonstrations)

    def critic_config(self) -> CriticTrainConfig:
        return CriticTrainConfig(steps=self.critic_steps, hidden_size=self.critic_hidden_size,
                                 batch_size=self.critic_batch_size,
                                 num_bins=self.critic_num_bins, seed=self.train_seed,
                                 observation_noise=self.critic_observation_noise)


class ComparisonPipeline:
    def __init__(self, config: PipelineConfig, work: Path, progress: bool = True,
                 log=print, demo_folder: Path | None = None,
                 extra_demo_root: Path | None = None, reference_dir: Path | None = None):
        self.config, self.work, self.progress, self.log = config, Path(work), progress, log
        self._demo_folder = None if demo_folder is None else Path(demo_folder)
        self.extra_demo_root = Path(extra_demo_root or self.work / "extra_demos")
        self.reference_dir = None if reference_dir is None else Path(reference_dir)
        self.computed: list[dict] = []
        self.work.mkdir(parents=True, exist_ok=True)
        self._check_work_config()

    @contextmanager
    def _computing(self, kind: str, path: Path):
        """Time a cell computed here and list it in `computed`."""
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.computed.append(dict(kind=kind, path=str(path), seconds=round(seconds, 2)))
        self.log(f"[{kind}] done in {seconds:.1f} s")

    def _check_work_config(self) -> None:
        """A work folder belongs to one dataset: refuse to mix cells of different settings
        (methods and evaluation settings may change; they do not alter cached cells)."""
        path = self.work / "pipeline.json"
        mine = dataclasses.asdict(self.config)
        free = ("methods", "torch_threads", "train_device")
        if path.exists():
            # a key written before it existed holds its default
            cached = dataclasses.asdict(PipelineConfig()) | json.loads(path.read_text())
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
        return self._demo_folder or self.work / "demos"

    def extra_demo_folder(self, count: int) -> Path:
        return self.extra_demo_root / f"n{count:03d}"

    def rollout_folder(self, round_index: int) -> Path:
        return self.work / "rollouts" / f"round_{round_index:02d}"

    def method_dir(self, method: str, rounds: int | None = None) -> Path:
        """Where a method's cells live (its evaluation; its policy unless shared)."""
        if method == REFERENCE:
            return self.work / "bc_reference"
        return self.work / f"r{rounds or self.config.rounds}" / method

    def policy_dir(self, method: str, rounds: int | None = None) -> Path:
        if method == REFERENCE and self.reference_dir is not None:
            return self.reference_dir
        return self.method_dir(method, rounds) / "policy"

    def critic_dir(self, rounds: int) -> Path:
        return self.work / f"r{rounds}" / "critic"

    def labels_dir(self, rounds: int) -> Path:
        return self.work / f"r{rounds}" / "labels"

    def collect_demos(self, cameras: tuple[str, ...] = ()) -> Path:
        c = self.config
        return self.collect_demo_cell(self.demo_folder, range(
            c.first_demo_seed, c.first_demo_seed + c.demos), cameras)

    def collect_extra_demos(self, count: int) -> Path:
        """`count` more operator demos, seeded after the demonstrations' seeds."""
        c = self.config
        first = c.first_demo_seed + c.demos
        if first + count > c.first_rollout_seed:
            raise ValueError(f"{count} extra demos would reach the rollout seeds")
        return self.collect_demo_cell(self.extra_demo_folder(count), range(first, first + count))

    def collect_demo_cell(self, final: Path, seeds: range, cameras: tuple[str, ...] = ()) -> Path:
        seconds = demo_cell(final, self.config.task, seeds, cameras, self.progress, self.log,
                            population=self.config.operator_population)
        if seconds is not None:
            self.computed.append(dict(kind="demos", path=str(final), seconds=round(seconds, 2)))
        return final

    def train(self, method: str, rounds: int | None = None) -> Path:
        """Checkpoint folder of `method` trained on demos (+ rollouts of rounds 1..rounds)."""
        rounds = rounds or self.config.rounds
        out = self.policy_dir(method, rounds)
        if not (out / "training.json").exists():
            demos = [self.collect_demos()]
            rollouts = [] if method == REFERENCE else [self.collect_round(r)
                                                      for r in range(1, rounds + 1)]
            labels_dir = self.label(rounds) if method in ("awr", "binary-indicator",
                                                          "policy") else None
            self.train_cell(out, method, demos, rollouts, labels_dir,
                            f"on {len(rollouts)} round(s) of rollouts")
        if method == REFERENCE and self.reference_dir is not None:
            reference = self.config.train_config(REFERENCE)
            wanted = config_to_dict(reference)
            # a key written before it existed holds its default
            trained = (config_to_dict(type(reference)())
                       | json.loads((out / "training.json").read_text())["config"])
            if wanted["epochs"]:   # training.json holds the steps the epochs came to on
                trained["steps"] = wanted["steps"]   # the (shared) demos, not the nominal
            if trained != wanted:
                differing = sorted(k for k in wanted if trained.get(k) != wanted[k])
                raise ValueError(f"the shared reference {out} was trained with another config "
                                 f"({', '.join(differing)} differ)")
        return out

    def train_cell(self, out: Path, method: str, demos: list[Path], rollouts: list[Path],
                   labels_dir: Path | None = None, what: str = "") -> Path:
        """A policy of `method` (the pipeline's training config) on these bag folders."""
        with cell_lock(out):
            if (out / "training.json").exists():
                return out
            self.log(f"[train] {method} {what} -> {out}")
            out.mkdir(parents=True, exist_ok=True)
            with self._computing("train", out):
                train_method(method, self.config.train_config(method), out, demos, rollouts,
                             labels_dir=labels_dir, progress=self.progress,
                             torch_threads=self.config.torch_threads,
                             device=self.config.train_device)
        return out

    def collect_round(self, round_index: int) -> Path:
        final = self.rollout_folder(round_index)
        if (final / "summary.json").exists():
            return final
        policy_dir = (self.train(REFERENCE) if round_index == 1
                      else self.train("policy", round_index - 1))
        with cell_lock(final):
            if not (final / "summary.json").exists():
                with self._computing("rollouts", final):
                    record_rollouts(self.config, round_index, policy_dir, final, self.progress,
                                    self.log)
        return final

    def train_critic(self, rounds: int) -> Path:
        final = self.critic_dir(rounds)
        if (final / "training.json").exists():
            return final
        demos = [self.collect_demos()]
        rollouts = [self.collect_round(r) for r in range(1, rounds + 1)]
        with cell_lock(final):
            if not (final / "training.json").exists():
                with self._computing("critic", final):
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
                with self._computing("labels", final):
                    self._label(rounds, critic, demos, rollouts, final)
        return final

    def _label(self, rounds: int, critic: Path, demos: list, rollouts: list,
               final: Path) -> None:
        partial = fresh_partial(final)
        self.log(f"[labels] advantages and indicators for {rounds} round(s)")
        with torch_threads(self.config.torch_threads):
            summary = label_episodes(critic, partial, DEFAULT_LABEL_SET,
                                     LabelConfig(horizon=self.config.horizon,
                                                 human_override=self.config.human_override),
                                     demos, rollouts,
                                     progress=self.progress)
        summary["labels"] = summary["labels"].replace(str(partial), str(final))
        write_json(partial / "labels.json", summary)
        partial.rename(final)

    def eval_cell(self, method: str, rounds: int | None = None) -> Path:
        return self.method_dir(method, rounds) / "eval.json"

    def evaluate(self, method: str, rounds: int | None = None) -> dict:
        """`method` (of the last round, or of round `rounds`) without interventions."""
        return self.evaluate_cell(self.eval_cell(method, rounds), method,
                                  lambda: self.train(method, rounds))

    def evaluate_cell(self, cell: Path, method: str, policy) -> dict:
        """Evaluate the checkpoint `policy()` returns (called only when not cached)."""
        if not cell.exists():
            policy_dir = policy()
            with cell_lock(cell):
                if not cell.exists():
                    with self._computing("eval", cell):
                        evaluate_checkpoint(self.config, method, policy_dir, cell, self.progress,
                                            self.log)
        return json.loads(cell.read_text())

    def run(self) -> dict:
        """Every cell in order: reference, rounds, critic + labels, DexPIE, then baselines
        (each trained and evaluated before the next is started)."""
        self.evaluate(REFERENCE)
        self.label(self.config.rounds)
        for method in self.config.methods:
            self.evaluate(method)
        return self.report()

    # ---- report (reads finished cells only) ------------------------------------------------
    def report(self, methods=None, label_statistics: bool = True) -> dict:
        return pipeline_report(self, methods, label_statistics)

    def label_statistics(self) -> dict | None:
        return label_stats(self)
