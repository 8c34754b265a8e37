"""The whole experiment: tasks x training seeds x variants, each a `ComparisonPipeline`
(pipeline.py), composed so that pipelines share cells where that is valid.

    <out>/demos/<task>/                  operator demos: shared by every seed and variant
    <out>/extra_demos/<task>/n<k>/       k extra demos (the "BC + more demos" baselines)
    <out>/<task>/seed<k>/dexpie/         the DexPIE loop: BC reference, R DAgger rounds (round
                                         r+1 collected with DexPIE of round r), critics,
                                         labels, DexPIE of every round, the baselines trained
                                         on the same data, the extra-demo baselines
    <out>/<task>/seed<k>/<ablation>/     an ablation's own loop (own rollouts, own critic);
                                         its BC reference is dexpie/'s where it is trained
                                         the same way (sync, init-only), else its own

A training seed seeds policy and critic training (and so round 2+ rollouts, collected with
a seed's own policy); demos, rollout start states and evaluation seeds are the same for
every seed, method and variant. Each evaluation is one cell of the plan; a finished cell is
read, never recomputed ("cached" in the log), and Ctrl-C loses at most the cell in progress.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dexpie_experiment.cell_cache import read_json
from dexpie_experiment.pipeline import ComparisonPipeline, PipelineConfig
from dexpie_learning.train.methods import METHODS, REFERENCE
from dexpie_experiment.extra_demos import (EXTRA_DEMO_METHODS, evaluate_extra_demo_baseline,
                                         extra_demo_row)
from dexpie_experiment.pipeline_report import method_row
from dexpie_experiment.pipeline_work import demo_cell

MAIN = "dexpie"
# ablation -> the PipelineConfig fields it changes
ABLATIONS = {"sync": dict(rollout_mode="sync", eval_mode="sync"),
             "absolute": dict(arm_representation="absolute_joint"),
             "init-only": dict(stage_mix=0.0)}
BASELINES = tuple(m for m in METHODS if m != "policy")
# table rows in order: (row key, label)
ROWS = (("bc", "BC reference (demos)"), ("policy", "DexPIE"), ("hg-dagger", "HG-DAgger"),
        ("hg-dagger-success", "HG-DAgger, successful episodes only"),
        ("iwr", "IWR"), ("filtered-bc", "filtered BC"),
        ("binary-indicator", "binary indicator (RECAP-style)"), ("awr", "AWR"),
        ("bc-effort-demos", "BC + extra demos (= DexPIE's intervention effort)"),
        ("bc-count-demos", "BC + extra demos (= DexPIE's rollout count)"),
        ("sync", "DexPIE, synchronous inference"), ("absolute", "DexPIE, absolute actions"),
        ("init-only", "DexPIE, initial-stage collection only"))
ROW_LABELS = dict(ROWS)


@dataclass(frozen=True)
class Selection:
    """The part of a plan one place computes (`--only`, `--only-seeds`, `--only-tasks`): the
    cells of these rows, training seeds and tasks; an empty field selects all. The plan and
    its settings stay the whole configuration's, so the places' results.json merge
    (`results_merge`). Cells the selected ones need (a baseline's DexPIE rounds) are computed
    on the way."""
    rows: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    tasks: tuple[str, ...] = ()

    def check(self, config: "SuiteConfig") -> None:
        """ValueError naming every selected row, seed or task that is not in `config`'s plan
        (a typo would otherwise compute nothing and report success); creates nothing."""
        for option, chosen, valid, name, note in (
                ("--only", self.rows, config.rows, "rows", ""),
                ("--only-seeds", self.seeds, config.seeds, "training seeds", "; --seeds N: 0..N-1"),
                ("--only-tasks", self.tasks, config.tasks, "tasks", "")):
            absent = [str(value) for value in chosen if value not in valid]
            if absent:
                raise ValueError(f"{option} {' '.join(absent)}: not in this configuration's "
                                 f"plan (its {name}: {' '.join(map(str, valid))}{note})")

    def keeps(self, cell: "Cell") -> bool:
        return ((not self.rows or cell.row in self.rows)
                and (not self.seeds or cell.seed in self.seeds)
                and (not self.tasks or cell.task in self.tasks))


@dataclass(frozen=True)
class SuiteConfig:
    """template: every pipeline's settings (task, demos and train_seed are set per cell).
    baselines: pipeline methods trained on the DexPIE loop's data; extra_demo_baselines and
    ablations as named above; evaluate_rounds: also evaluate DexPIE of rounds 1..R-1."""
    tasks: tuple[str, ...]
    demos: dict = field(default_factory=dict)      # task -> demonstrations
    seeds: tuple[int, ...] = (0,)
    template: PipelineConfig = PipelineConfig()
    baselines: tuple[str, ...] = ("hg-dagger",)
    extra_demo_baselines: tuple[str, ...] = ()
    ablations: tuple[str, ...] = ()
    evaluate_rounds: bool = True

    def __post_init__(self):
        if not self.tasks or not self.seeds:
            raise ValueError("at least one task and one seed")
        for task in self.tasks:
            if self.demos.get(task, 0) < 1:
                raise ValueError(f"no demonstration budget for task {task!r}")
        for name, values, known in (("baselines", self.baselines, BASELINES),
                                    ("extra_demo_baselines", self.extra_demo_baselines,
                                     EXTRA_DEMO_METHODS), ("ablations", self.ablations,
                                                           tuple(ABLATIONS))):
            unknown = [v for v in values if v not in known]
            if unknown:
                raise ValueError(f"unknown {name} {unknown} (known: {list(known)})")
        if len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct and >= 0, got {self.seeds}")

    def pipeline_config(self, task: str, seed: int, variant: str = MAIN) -> PipelineConfig:
        changes = dict(task=task, demos=self.demos[task], train_seed=seed,
                       methods=("policy", *self.baselines))
        if variant != MAIN:
            changes.update(ABLATIONS[variant], methods=("policy",))
        return dataclasses.replace(self.template, **changes)

    @property
    def rows(self) -> tuple[str, ...]:
        """The `ROWS` keys this configuration's plan has cells of, in the table's order."""
        mine = {REFERENCE, "policy", *self.baselines, *self.extra_demo_baselines,
                *self.ablations}
        return tuple(key for key, _ in ROWS if key in mine)

    def to_dict(self) -> dict:
        return dict(tasks=list(self.tasks), demos=dict(self.demos), seeds=list(self.seeds),
                    template=dataclasses.asdict(self.template), baselines=list(self.baselines),
                    extra_demo_baselines=list(self.extra_demo_baselines),
                    ablations=list(self.ablations), evaluate_rounds=self.evaluate_rounds)


@dataclass
class Cell:
    """One evaluation of the plan (everything it needs is computed on the way)."""
    task: str
    seed: int
    variant: str
    row: str
    round: int          # the rollout rounds its policy learned from (0: the BC reference)
    eval_cell: Path
    run: Callable[[], dict]

    @property
    def tier(self) -> int:
        """0: the main comparison (reference, DexPIE, baselines on its data); 1: extra-demo
        baselines; 2: ablations (each its own loop, the costliest rows)."""
        if self.variant != MAIN:
            return 2
        return 1 if self.row in EXTRA_DEMO_METHODS else 0

    @property
    def key(self) -> tuple:
        """(task, seed, variant, row, round), as `results_merge.cell_key` reads an entry."""
        return (self.task, self.seed, self.variant, self.row, self.round)

    @property
    def name(self) -> str:
        what = ROW_LABELS[self.row] + (f", round {self.round}" if self.row == "policy" else "")
        return f"{self.task} | seed {self.seed} | {what}"


class ExperimentSuite:
    def __init__(self, config: SuiteConfig, out: Path, progress: bool = True, log=print):
        self.config, self.out, self.progress, self.log = config, Path(out), progress, log
        self._pipelines: dict[tuple, ComparisonPipeline] = {}
        self._computed: list[dict] = []   # cells computed outside a pipeline (demos)

    def work(self, task: str, seed: int, variant: str = MAIN) -> Path:
        return self.out / task / f"seed{seed}" / variant

    def pipeline(self, task: str, seed: int, variant: str = MAIN) -> ComparisonPipeline:
        key = (task, seed, variant)
        if key not in self._pipelines:
            config = self.config.pipeline_config(task, seed, variant)
            main = self.config.pipeline_config(task, seed)
            shares_reference = (variant != MAIN and config.train_config(REFERENCE)
                                == main.train_config(REFERENCE))
            reference = (self.work(task, seed) / "bc_reference" / "policy"
                         if shares_reference else None)
            prefix = f"    {task}/seed{seed}/{variant} "
            self._pipelines[key] = ComparisonPipeline(
                config, self.work(task, seed, variant), progress=self.progress,
                log=lambda message: self.log(prefix + message),
                demo_folder=self.out / "demos" / task,
                extra_demo_root=self.out / "extra_demos" / task, reference_dir=reference)
        return self._pipelines[key]

    def plan(self) -> list[Cell]:
        """Seeds outermost, then tasks; per task: the reference, DexPIE per round, baselines,
        extra-demo baselines, ablations (the table's order; `run` computes the cells tier by
        tier, `Cell.tier`, then seed by seed)."""
        c, rounds = self.config, self.config.template.rounds
        cells = []
        for seed in c.seeds:
            for task in c.tasks:
                p = self.pipeline(task, seed)
                cells.append(Cell(task, seed, MAIN, REFERENCE, 0, p.eval_cell(REFERENCE),
                                  lambda p=p: p.evaluate(REFERENCE)))
                for r in range(1 if c.evaluate_rounds else rounds, rounds + 1):
                    cells.append(Cell(task, seed, MAIN, "policy", r, p.eval_cell("policy", r),
                                      lambda p=p, r=r: p.evaluate("policy", r)))
                for method in c.baselines:
                    cells.append(Cell(task, seed, MAIN, method, rounds, p.eval_cell(method),
                                      lambda p=p, m=method: p.evaluate(m)))
                for method in c.extra_demo_baselines:
                    cells.append(Cell(task, seed, MAIN, method, 0,
                                      p.work / method / "eval.json",
                                      lambda p=p, m=method: evaluate_extra_demo_baseline(p, m)))
                for variant in c.ablations:
                    v = self.pipeline(task, seed, variant)
                    cells.append(Cell(task, seed, variant, variant, rounds,
                                      v.eval_cell("policy"), lambda v=v: v.evaluate("policy")))
        return cells

    def select(self, selection: Selection = Selection()) -> list[Cell]:
        """The plan's cells that `selection` keeps (ValueError for a selection outside it)."""
        selection.check(self.config)
        return [cell for cell in self.plan() if selection.keeps(cell)]

    def collect_demos(self, cameras: tuple[str, ...] = ()) -> list[dict]:
        """Every task's demonstrations (one shared cell per task); a summary row per task."""
        rows = []
        for task in self.config.tasks:
            folder = self.out / "demos" / task
            first = self.config.template.first_demo_seed
            seconds = demo_cell(folder, task, range(first, first + self.config.demos[task]),
                                cameras, self.progress, self.log,
                                population=self.config.template.operator_population)
            if seconds is not None:
                self._computed.append(dict(kind="demos", path=str(folder),
                                           seconds=round(seconds, 2), pipeline=task))
            done = read_json(folder / "complete.json")
            rows.append(dict(task=task, folder=str(folder), episodes=len(done["seeds"]),
                             successes=done["successes"], steps=done["steps"],
                             human_steps=done["human_steps"],
                             intervention_fraction=done["human_steps"] / max(done["steps"], 1)))
            if seconds is None:
                self.log(f"[demos] {task}: cached ({rows[-1]['episodes']} demos)")
        return rows

    def run(self, worker: int = 0, selection: Selection = Selection(),
            done_elsewhere: frozenset = frozenset()) -> dict:
        """Every cell of the plan in order; returns `collect()` plus what was computed. A
        cell the data cannot make (ValueError) is reported and the plan goes on.

        selection: compute only these cells (`Selection`: e.g. the ablations, or one training
        seed, on another machine or in a later session; `results_merge` joins the places'
        results); what they need is computed on the way, the other cells stay missing.
        done_elsewhere: `results_merge.cell_key`s of cells evaluated in another place whose
        results will be merged in (`--merge-results`): not computed here.

        worker: which of several processes sharing `out` this is; each takes the (training
        seed, task) pipelines in its own order (`pipeline_order`) so that they work on
        different pipelines; a cell another live process is computing is waited for, then
        read (the pipelines' cell locks)."""
        start = time.perf_counter()
        order = pipeline_order(selection.tasks or self.config.tasks,
                               selection.seeds or self.config.seeds, worker)
        seed_order = list(dict.fromkeys(seed for seed, _ in order))
        plan = self.select(selection)
        # The main comparison of every seed and task comes before any extra-demo baseline or
        # ablation (then seed by seed): a long run stopped early (or still going) then has
        # the headline's rows at every training seed instead of one seed's every row.
        # Within a pipeline worker 0 keeps the plan's order (reference, DexPIE by round, then
        # baselines); odd workers take it backwards, so that two workers meeting on one
        # pipeline train different policies (e.g. HG-DAgger beside DexPIE's last round)
        # instead of one waiting for the other's cell. Dependencies are computed either way.
        within = -1 if worker % 2 else 1
        ranked = sorted(enumerate(plan), key=lambda item: (
            item[1].tier, seed_order.index(item[1].seed),
            order.index((item[1].seed, item[1].task)), within * item[0]))
        cells = [cell for _, cell in ranked]
        cached, failed = 0, []
        for index, cell in enumerate(cells, start=1):
            head = f"[{index}/{len(cells)}] {cell.name}"
            if cell.key in done_elsewhere:
                cached += 1
                self.log(f"{head}: done elsewhere (merged from --merge-results)")
                continue
            if cell.eval_cell.exists():
                cached += 1
                self.log(f"{head}: cached ({_score(read_json(cell.eval_cell))})")
                continue
            self.log(f"{head}: computing (elapsed {_clock(time.perf_counter() - start)})")
            t0 = time.perf_counter()
            try:
                result = cell.run()
            except ValueError as error:   # e.g. too few failed rollouts to cross-fit critics
                failed.append(dict(cell=cell.name, error=str(error)))
                self.log(f"{head}: FAILED: {error}")
                continue
            self.log(f"{head}: {_score(result)} in {_clock(time.perf_counter() - t0)}")
        results = self.collect()
        results["run"] = dict(cells=len(cells), cached_cells=cached, failed_cells=failed,
                              computed=self.computed(), seconds=time.perf_counter() - start)
        return results

    def computed(self) -> list[dict]:
        """Every cell (demos, training, rollouts, critic, labels, evaluation) computed here."""
        return self._computed + [dict(entry, pipeline=f"{task}/seed{seed}/{variant}")
                                 for (task, seed, variant), p in self._pipelines.items()
                                 for entry in p.computed]

    def collect(self) -> dict:
        """Everything behind the results table, from finished cells only (no computation)."""
        entries, pipelines = [], {}
        for cell in self.plan():
            p = self.pipeline(cell.task, cell.seed, cell.variant)
            key = f"{cell.task}/seed{cell.seed}/{cell.variant}"
            if key not in pipelines:
                pipelines[key] = p.report(methods=(), label_statistics=cell.variant == MAIN)
            if cell.row in EXTRA_DEMO_METHODS:
                row = extra_demo_row(p, cell.row)
            else:
                method = REFERENCE if cell.row == REFERENCE else (
                    "policy" if cell.variant != MAIN else cell.row)
                rounds = cell.round or None
                row = method_row(method, p.policy_dir(method, rounds), cell.eval_cell)
            summaries = [read_json(p.rollout_folder(r) / "summary.json")
                         for r in range(1, cell.round + 1)]
            row.update(task=cell.task, seed=cell.seed, variant=cell.variant, row=cell.row,
                       label=ROW_LABELS[cell.row], round=cell.round,
                       intervention_rates=[None if s is None else s["overall"]
                                           ["intervention_rate"] for s in summaries])
            entries.append(row)
        demos = {task: read_json(self.out / "demos" / task / "complete.json")
                 for task in self.config.tasks}
        return dict(config=self.config.to_dict(), rounds=self.config.template.rounds,
                    rows=[dict(key=k, label=label) for k, label in ROWS], entries=entries,
                    demos=demos, pipelines=pipelines, out=str(self.out))


def pipeline_order(tasks, seeds, worker: int) -> list[tuple[int, str]]:
    """The order in which process `worker` takes the (seed, task) pipelines: 0 in order, 1 from
    the other end (two processes meet only in the middle), k >= 2 starting at pipeline k - 1
    (so up to one worker per pipeline, each starts on its own). With one task and several
    seeds the processes thus train different seeds instead of waiting on each other's cells."""
    pipelines = [(seed, task) for seed in seeds for task in tasks]
    if worker == 1:
        return pipelines[::-1]
    shift = max(worker - 1, 0) % len(pipelines)
    return pipelines[shift:] + pipelines[:shift]


def _score(result: dict) -> str:
    return f"{result['successes']}/{result['episodes']} successes"


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s"
