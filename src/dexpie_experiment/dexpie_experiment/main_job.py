"""`dexpie-experiment`: the README's main job, the whole DexPIE loop in the MuJoCo twin.

For every task: (1) the simulated operator (glove + spacemouse through the teleop core)
demonstrates it (`<out>/demos/<task>/`, one bag per episode) and the BC reference (relative
actions, async execution) is trained on those demos; (2) R rounds of rollouts with the
simulated operator intervening, half of them from intermediate stages, round r+1 collected
with the DexPIE policy of round r; (3) cross-fitted critics -> advantages -> continuous
indicator -> indicator-conditioned policy, deployed with s = 1 and CFG; (4) evaluation
without interventions from seeded initial states, of the reference, DexPIE of every round
and the baselines. Results: `<out>/results/` (results.md, results.json,
success_vs_round.png) and the table printed at the end.

Both configurations run with the mixed operator population (better, okay and worse simulated
people) and train every policy for the same number of passes over its own samples. The
default is a short configuration (1 training seed, BC / DexPIE / HG-DAgger, about 20
minutes on 2 CPU cores); `--full` runs every baseline, the extra-demo baselines and the
ablations on 3 training seeds with 100 evaluation episodes (many hours on 2 cores). Every
cell is cached under --out: re-running with the same --out computes only what is missing,
and Ctrl-C, `kill -INT` or `kill` (SIGTERM) of the main process stops it and its workers
and loses at most the cells in progress.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from dexpie_common.output_paths import OutputPathError, check_output_folder
from dexpie_experiment.pipeline import PipelineConfig
from dexpie_experiment.suite import (ABLATIONS, BASELINES, ROWS, ExperimentSuite, Selection,
                                     SuiteConfig)
from dexpie_experiment.extra_demos import EXTRA_DEMO_METHODS
from dexpie_experiment.results_merge import (check_same_configuration, evaluated_keys,
                                           merge_results)
from dexpie_experiment.results_report import write_results
from dexpie_learning.labels import HUMAN_OVERRIDES
from dexpie_learning.train.config import DEMONSTRATION_SELECTIONS
from dexpie_learning.train.loop import training_device
from dexpie_sim.operators.population import POPULATIONS
from dexpie_sim.registry import TASK_NAMES

# The BC reference's demonstration budget per task: where BC is clearly imperfect, which is
# the situation DexPIE exists for (benchmarks/bc_demo_scaling.py measured BC success against
# the number of demonstrations; see benchmarks/README.md).
REFERENCE_DEMOS = {"relocate": 20, "door": 5, "hammer": 10}

# The two configurations (command-line options override single values).
# Short: hidden 512 (at 256, BC on these demo budgets collapsed: relocate and hammer 0-1 of
# 30 for every training seed, benchmarks/training_stability.py); 60 epochs and 20 rollouts
# keep the whole loop under 20 minutes on 2 cores (15.2 min measured at 64d0611).
# --full's passes per policy, chosen once for every method on validation seeds (200000..,
# disjoint from the evaluation's) by a rule fixed before the 200-epoch cells were read: 100
# unless 200 raised the mean of BC, HG-DAgger and DexPIE (two label rules) by >= 5 points;
# it did, 0.198 -> 0.256 (results/label_variants_epochs_mixed.json, benchmarks/README.md).
FULL_EPOCHS = 200
# The critics train with Gaussian noise of this many feature stds on their inputs: without
# it they memorise their few dozen episodes (in-sample ranking 1.00, held out 0.31-0.95).
# Chosen as the best mean held-out ranking of {0, 0.5, 1, 2, 4} on the two preview runs'
# 6 pipelines (0.77 -> 0.88), confirmed on the mixed 3-seed run's 9
# (benchmarks/critic_generalization.py, benchmarks/README.md).
CRITIC_NOISE = 4.0
# Both train every policy for the same number of passes over its own training samples
# (equal epochs, as the DexPIE authors train; a fixed step count gave the methods that train
# on every tick ~3.5x fewer passes than HG-DAgger). Short: 60 epochs cost what 1200 steps
# per policy did (14.4k steps over the 12 policies of the mixed population's short run).
# Both run with the mixed operator population (better, okay and worse people), and every
# policy learns from the successful demonstrations only, as a lab keeps the attempts that
# show the task (robomimic's human datasets hold successful demos only); the failed
# attempts still count as human effort and the critic still learns from them.
SHORT = dict(seeds=1, rounds=2, rollouts=20, stage_mix=0.5, train_steps=1200, train_epochs=60,
             hidden_size=512, num_layers=3, batch_size=256, horizon=16, critic_steps=1000,
             critic_hidden_size=256, critic_batch_size=256, critic_bins=201,
             critic_noise=CRITIC_NOISE, eval_episodes=30, baselines=["hg-dagger"],
             extra_demo_baselines=[], ablations=[],
             operator_population="mixed", demonstrations="successful")
# Hidden 512: what the 3-seed run of benchmarks/results/experiment_h512_gpu used (at hidden
# 256 BC on these demo budgets collapses: relocate and hammer 0-1 of 30). train_steps (3000
# in that run) applies only with --train-epochs 0.
FULL = dict(seeds=3, rounds=2, rollouts=40, stage_mix=0.5, train_steps=3000,
            train_epochs=FULL_EPOCHS, hidden_size=512, num_layers=3, batch_size=256, horizon=16,
            critic_steps=3000, critic_hidden_size=256, critic_batch_size=256, critic_bins=201,
            critic_noise=CRITIC_NOISE, eval_episodes=100, baselines=list(BASELINES),
            extra_demo_baselines=list(EXTRA_DEMO_METHODS), ablations=list(ABLATIONS),
            operator_population="mixed", demonstrations="successful")
INTS = ("seeds", "rounds", "rollouts", "train_steps", "hidden_size", "num_layers", "batch_size",
        "horizon", "critic_steps", "critic_hidden_size", "critic_batch_size", "critic_bins",
        "eval_episodes", "demos", "torch_threads", "jobs")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dexpie-experiment", description=__doc__.split("\n\n")[0],
        epilog="Short default: " + ", ".join(f"{k} {v}" for k, v in SHORT.items())
        + ". --full: " + ", ".join(f"{k} {v}" for k, v in FULL.items()) + ".")
    add = parser.add_argument
    add("--full", action="store_true", help="the full configuration (every baseline, extra-demo "
        "baselines, ablations sync / absolute / init-only, 3 seeds, 100 evaluation episodes)")
    add("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES,
        help="tasks to run (default: all)")
    budgets = ", ".join(f"{t} {n}" for t, n in REFERENCE_DEMOS.items())
    add("--demos", type=int, default=None, help="operator demonstrations per task (default: "
        f"each task's reference budget, {budgets})")
    add("--first-seed", type=int, default=0, help="seed of the first demonstration")
    add("--out", type=Path, default=None, help="output folder; re-use one to resume "
        "(default: a fresh runs/<time>, linked as runs/latest)")
    add("--seeds", type=int, default=None, help="training seeds (0..N-1)")
    add("--rounds", type=int, default=None, help="DAgger rounds R")
    add("--rollouts", type=int, default=None, help="rollout episodes per round")
    add("--stage-mix", type=float, default=None,
        help="share of rollouts that start from an intermediate stage")
    add("--train-steps", "--bc-steps", dest="train_steps", type=int, default=None,
        help="optimisation steps of every policy (the same for every method)")
    add("--train-epochs", type=int, default=None,
        help="train every policy for this many passes over its own training samples (the "
             "protocol: equal epochs; 0: --train-steps for every method instead)")
    add("--hidden-size", type=int, default=None)
    add("--num-layers", type=int, default=None)
    add("--batch-size", type=int, default=None)
    add("--horizon", type=int, default=None, help="actions per chunk H")
    add("--critic-steps", type=int, default=None)
    add("--critic-hidden-size", type=int, default=None)
    add("--critic-batch-size", type=int, default=None)
    add("--critic-bins", type=int, default=None)
    add("--critic-noise", type=float, default=None,
        help="Gaussian noise on the critics' inputs while training, in feature stds (0: none)")
    add("--eval-episodes", type=int, default=None, help="evaluation episodes per policy and seed")
    add("--operator-population", default=None, choices=sorted(POPULATIONS),
        help="who demonstrates and intervenes: the mixed population of the three tiers "
        "(default), one skill tier (better, okay, worse: 2 simulated people each) or the "
        "scripted expert (dexpie_sim/operators/population.py; measured per tier by "
        "benchmarks/operator_population.py)")
    add("--human-override", default=PipelineConfig.human_override, choices=HUMAN_OVERRIDES,
        help="whose whole-human chunk windows the indicator forces to s = 1: all (the paper), "
             "successful (episodes that succeeded; a failed demo or correction is scored by "
             "the critic) or none")
    add("--demonstrations", default=None, choices=DEMONSTRATION_SELECTIONS,
        help="which demonstration attempts every policy learns from: the successful ones "
             "(default) or all, failed ones included (the critic sees all either way; human "
             "effort counts all)")
    add("--latency-ticks", type=int, default=PipelineConfig.latency_ticks,
        help="modelled inference latency d in control ticks")
    add("--baselines", nargs="*", default=None, choices=BASELINES,
        help="baselines trained on DexPIE's data")
    add("--extra-demo-baselines", nargs="*", default=None, choices=EXTRA_DEMO_METHODS)
    add("--ablations", nargs="*", default=None, choices=list(ABLATIONS))
    add("--only", nargs="+", default=[], choices=[key for key, _ in ROWS], metavar="ROW",
        help="compute only these rows' cells (and what they need), e.g. `--only sync "
             "absolute init-only` to run the ablations on another machine; the settings "
             "stay those of the configuration, so the results merge with "
             f"--merge-results (rows: {' '.join(key for key, _ in ROWS)})")
    add("--only-seeds", nargs="+", type=int, default=[], metavar="SEED",
        help="compute only these training seeds' cells, e.g. `--seeds 3 --only-seeds 2` on "
             "one machine and `--only-seeds 0 1` on another; the configuration stays that of "
             "all its seeds, so the results merge with --merge-results")
    add("--only-tasks", nargs="+", default=[], metavar="TASK",
        help="compute only these tasks' cells (with --only and --only-seeds: their "
             "intersection), e.g. one task of one seed of --full per session; every task's "
             "demos are still recorded (a merge compares them)")
    add("--merge-results", type=Path, action="append", default=[], metavar="RESULTS_JSON",
        help="results.json of this same configuration made elsewhere (another machine, a lost "
             "--out); its evaluated cells are not computed here and the results are the union "
             "(repeatable; other settings, demos or a cell with another outcome are refused)")
    add("--no-round-evals", action="store_true",
        help="evaluate DexPIE of the last round only (not of every round)")
    add("--demos-only", action="store_true", help="stop after collecting demonstrations")
    add("--camera", action="append", default=[], metavar="NAME",
        help="with --demos-only: also record images from this camera (repeatable); the "
             "learning loop does not support cameras (policies, critics and rollouts use "
             "proprioception + object state)")
    add("--report-only", action="store_true",
        help="compute nothing: write the results of the finished cells under --out")
    add("--torch-threads", type=int, default=1, help="torch threads (1 is fastest on 2 cores)")
    add("--device", default="cpu", help="where policies are trained: cpu, cuda or cuda:<k> "
        "(simulation and evaluation always run on the CPU; cached cells are reused across "
        "devices)")
    add("--jobs", type=int, default=min(2, os.cpu_count() or 1),
        help="processes computing cells side by side, each on one core (default: up to 2); "
             "they start on different tasks and share the cells under --out")
    add("--worker", type=int, default=0, help=argparse.SUPPRESS)  # index of a spawned worker
    add("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    for name in INTS:
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.critic_noise is not None and not 0 <= args.critic_noise < float("inf"):
        parser.error(f"--critic-noise must be a finite number >= 0, got {args.critic_noise}")
    if args.train_epochs is not None and args.train_epochs < 0:
        parser.error(f"--train-epochs must be >= 0, got {args.train_epochs}")
    if args.camera and not args.demos_only:
        parser.error("--camera works with --demos-only only: the learning loop does not use images")
    if args.report_only and args.out is None:
        parser.error("--report-only needs --out")
    try:
        training_device(args.device)
    except ValueError as error:
        parser.error(f"--device: {error}")
    if args.out is not None:   # before anything is computed: a file, a folder not writable, a full disk
        try:
            check_output_folder(args.out, "--out")
        except OutputPathError as error:
            parser.exit(2, f"{parser.prog}: error: {error}\n")
    return args


def suite_config(args) -> SuiteConfig:
    preset = dict(FULL if args.full else SHORT)
    preset.update({k: v for k, v in vars(args).items() if k in preset and v is not None})
    template = PipelineConfig(
        first_demo_seed=args.first_seed, rounds=preset["rounds"], rollouts=preset["rollouts"],
        stage_mix=preset["stage_mix"], latency_ticks=args.latency_ticks,
        eval_episodes=preset["eval_episodes"], train_steps=preset["train_steps"],
        hidden_size=preset["hidden_size"], num_layers=preset["num_layers"],
        batch_size=preset["batch_size"], horizon=preset["horizon"],
        critic_steps=preset["critic_steps"], critic_hidden_size=preset["critic_hidden_size"],
        critic_batch_size=preset["critic_batch_size"], critic_num_bins=preset["critic_bins"],
        critic_observation_noise=preset["critic_noise"],
        torch_threads=args.torch_threads, train_device=args.device,
        operator_population=preset["operator_population"],
        train_epochs=preset["train_epochs"], human_override=args.human_override,
        demonstrations=preset["demonstrations"])
    return SuiteConfig(tasks=tuple(args.tasks),
                       demos={t: args.demos or REFERENCE_DEMOS[t] for t in args.tasks},
                       seeds=tuple(range(preset["seeds"])), template=template,
                       baselines=tuple(preset["baselines"]),
                       extra_demo_baselines=tuple(preset["extra_demo_baselines"]),
                       ablations=tuple(preset["ablations"]),
                       evaluate_rounds=not args.no_round_evals)


def run_folder(out: Path | None) -> Path:
    """A fresh folder per run; runs/latest points at the newest."""
    if out is not None:
        return out
    runs = Path("runs")
    folder = runs / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=False)
    latest = runs / "latest"
    if latest.is_symlink() or not latest.exists():
        latest.unlink(missing_ok=True)
        latest.symlink_to(folder.name)
    return folder


def print_summary(rows: list[dict]) -> None:
    header = f"{'task':<10} {'episodes':>8} {'success':>9} {'steps':>7} {'human steps':>12} {'intervention':>13}"
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        print(f"{r['task']:<10} {r['episodes']:>8} {r['successes']:>4}/{r['episodes']:<4} {r['steps']:>7} "
              f"{r['human_steps']:>12} {r['intervention_fraction']:>13.2f}")


def describe(config: SuiteConfig, full: bool) -> str:
    t = config.template
    budget = (f"{t.train_epochs} epochs per policy (passes over its own samples)"
              if t.train_epochs else f"{t.train_steps} policy steps")
    return (f"DexPIE in the MuJoCo twin ({'full' if full else 'short'} configuration): operator "
            f"population {t.operator_population} ({t.demonstrations} demonstrations "
            f"trained on); tasks "
            f"{', '.join(config.tasks)}; demos {config.demos}; training seeds "
            f"{list(config.seeds)}; {t.rounds} round(s) x {t.rollouts} rollouts (stage mix "
            f"{t.stage_mix}); {budget} (hidden {t.hidden_size} x "
            f"{t.num_layers}), {t.critic_steps} critic steps (input noise "
            f"{t.critic_observation_noise:g} std); {t.eval_episodes} evaluation "
            f"episodes; baselines {list(config.baselines) or 'none'}; extra-demo baselines "
            f"{list(config.extra_demo_baselines) or 'none'}; ablations "
            f"{list(config.ablations) or 'none'}")


def spawn_workers(argv, out: Path, jobs: int, workers: list[tuple]) -> None:
    """jobs - 1 more processes of this command on the same --out (after the demos exist),
    worker k starting with task k, appended to `workers` as each starts (so an interrupt
    in between still stops those already started); output in <out>/logs/worker<k>.log."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    args = list(sys.argv[1:] if argv is None else argv)
    for k in range(1, jobs):
        log_path = out / "logs" / f"worker{k}.log"
        command = [sys.executable, "-m", "dexpie_experiment.main_job", *args, "--out", str(out),
                   "--worker", str(k), "--quiet"]
        log = open(log_path, "w")
        workers.append((k, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log_path))
        log.close()
        print(f"[jobs] worker {k} started on the same cells (log: {log_path})", flush=True)


@contextmanager
def stop_on_signals():
    """Within: SIGINT and SIGTERM stop the run like Ctrl-C (KeyboardInterrupt: finished cells
    are kept); the previous handlers are restored after. SIGINT is re-armed explicitly: a
    non-interactive shell starts background jobs (`cmd &`, nohup) with SIGINT ignored, and
    Python then leaves it ignored."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_workers(workers: list[tuple], timeout_s: float = 30.0) -> None:
    """SIGTERM to every worker still running (each then stops like the main process), then
    SIGKILL to any that has not exited within timeout_s: none outlives the main process and
    races a re-run for the same cells."""
    running = [(k, process) for k, process, _ in workers if process.poll() is None]
    for _, process in running:
        process.terminate()
    deadline = time.monotonic() + timeout_s
    for k, process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(f"[jobs] worker {k} stopped (exit code {process.returncode})", flush=True)


def merge_workers(run: dict, workers: list[tuple], log) -> None:
    """Wait for the workers; add the cells they computed (and any that failed) to `run`."""
    for k, process, log_path in workers:
        code = process.wait()
        summary = log_path.with_suffix(".json")
        if code != 0 or not summary.exists():
            log(f"[jobs] worker {k} exited with code {code}: see {log_path}")
            run.setdefault("failed_cells", []).append(dict(cell=f"worker {k}", error=f"exit code {code}"))
            continue
        theirs = json.loads(summary.read_text())
        run["computed"] = run.get("computed", []) + theirs.get("computed", [])
        run["failed_cells"] = run.get("failed_cells", []) + theirs.get("failed_cells", [])


def load_merge_results(paths: list[Path], config: SuiteConfig) -> dict[str, dict]:
    """path -> results.json for --merge-results, each checked against this configuration
    before anything is computed (ValueError naming the file and what differs)."""
    merged = {}
    for path in paths:
        try:
            results = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"--merge-results {path}: cannot read it ({error})") from None
        if not isinstance(results, dict) or not {"config", "entries", "demos",
                                                 "pipelines"} <= set(results):
            raise ValueError(f"--merge-results {path}: not an experiment's results.json")
        check_same_configuration(dict(config=config.to_dict()), results, str(path))
        merged[str(path)] = results
    return merged


def done_elsewhere(merged: dict[str, dict]) -> frozenset:
    return frozenset().union(*(evaluated_keys(r) for r in merged.values()))


def main(argv=None) -> int:
    args = parse_args(argv)
    with stop_on_signals():
        return run_experiment(args, argv)


def run_experiment(args, argv) -> int:
    start = time.perf_counter()
    config = suite_config(args)
    out = run_folder(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(describe(config, args.full) + f"\n-> {out}", flush=True)
    suite = ExperimentSuite(config, out, progress=not args.quiet,
                            log=lambda message: print(message, flush=True))
    workers = []
    try:
        selection = Selection(tuple(args.only), tuple(args.only_seeds), tuple(args.only_tasks))
        selection.check(config)   # refused before anything is computed
        merged = load_merge_results(args.merge_results, config)
        if not args.report_only:
            rows = suite.collect_demos(tuple(args.camera))
            print_summary(rows)
            (out / "demos_summary.json").write_text(json.dumps(rows, indent=2))
            if args.demos_only:
                print(f"\nepisode bags: {out / 'demos'}")
                return 0
        if args.worker:
            (out / "logs" / f"worker{args.worker}.json").write_text(
                json.dumps(suite.run(args.worker, selection, done_elsewhere(merged))["run"]))
            return 0
        if args.report_only:
            results = suite.collect()
        else:
            spawn_workers(argv, out, args.jobs, workers)
            run = suite.run(selection=selection, done_elsewhere=done_elsewhere(merged))["run"]
            merge_workers(run, workers, print)
            results = suite.collect()   # after the workers: every cell they made is in it
            results["run"] = run
        if merged:
            results = merge_results(results, merged)
    except KeyboardInterrupt:
        stop_workers(workers)
        print(f"\ninterrupted after {time.perf_counter() - start:.0f} s: finished cells are "
              f"kept; re-run with --out {out} to resume")
        return 130
    except ValueError as error:   # e.g. --out holds cells made with other settings
        print(f"error: {error}", file=sys.stderr)
        return 2
    results["run"] = dict(results.get("run", {}), report_only=args.report_only,
                          argv=list(sys.argv[1:] if argv is None else argv),
                          full=args.full, template=dataclasses.asdict(config.template))
    table, paths = write_results(out / "results", results)
    run = results["run"]
    if not args.report_only:
        print(f"\n{run['cells']} evaluation cells: {run['cached_cells']} cached, "
              f"{run['cells'] - run['cached_cells']} computed; {len(run['computed'])} cells "
              "computed in all (demos, training, rollouts, critics, labels, evaluations)")
    print("\n" + table)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    if run.get("failed_cells"):
        print(f"{len(run['failed_cells'])} cell(s) failed: see {paths[0]}")
    print(f"total time {time.perf_counter() - start:.1f} s")
    return 1 if run.get("failed_cells") else 0


if __name__ == "__main__":
    sys.exit(main())
