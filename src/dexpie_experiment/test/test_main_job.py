"""The README's main job: demos only, the whole loop on a tiny short configuration (results
files, table rows, human effort, a fully cached re-run) and the option handling."""
import json
import time

import pytest

from dexpie_experiment.main_job import (CRITIC_NOISE, FULL, FULL_EPOCHS, REFERENCE_DEMOS, SHORT, main,
                                        parse_args, suite_config)
from dexpie_episode import OUTCOME_SUCCESS, load_episodes
from dexpie_sim.registry import TASK_NAMES

# The short configuration, reduced: 1 task, 2 demos, 1 round of 3 rollouts, 20 train steps,
# 2 evaluation episodes, tiny models.
TINY = ["--tasks", "door", "--demos", "2", "--rounds", "1", "--rollouts", "3",
        "--train-steps", "20", "--train-epochs", "0", "--hidden-size", "32", "--num-layers", "1",
        "--batch-size", "16", "--horizon", "8", "--critic-steps", "20", "--critic-hidden-size", "32",
        "--critic-batch-size", "32", "--critic-bins", "21", "--eval-episodes", "2", "--quiet"]


def test_main_job_collects_readable_demos(tmp_path, capsys):
    assert main(["--demos", "1", "--out", str(tmp_path), "--demos-only"]) == 0
    printed = capsys.readouterr().out
    rows = json.loads((tmp_path / "demos_summary.json").read_text())
    assert [r["task"] for r in rows] == list(TASK_NAMES)
    for row in rows:
        assert row["task"] in printed
        episodes, errors = load_episodes(tmp_path / "demos" / row["task"])
        assert errors == [] and len(episodes) == 1
        episode = episodes[0]
        assert episode.task == row["task"] and episode.stage == "init"
        assert len(episode.time) == row["steps"] == row["human_steps"] > 0
        assert episode.intervention.all()  # a demonstration is human-operated on every tick
        assert (episode.outcome == OUTCOME_SUCCESS) == bool(row["successes"])
    assert not (tmp_path / "relocate").exists()   # no pipeline settings pinned by demos-only


def test_main_job_demos_come_from_the_operator_population_asked_for(tmp_path):
    from dexpie_sim.operators.population import member_for_episode
    assert main(["--demos", "2", "--tasks", "door", "--operator-population", "mixed",
                 "--out", str(tmp_path), "--demos-only"]) == 0
    folder = tmp_path / "demos" / "door"
    assert json.loads((folder / "complete.json").read_text())["operator_population"] == "mixed"
    for episode in load_episodes(folder)[0]:
        member = member_for_episode("mixed", episode.seed)
        assert f"operator {member.tier} #{member.identity}" in episode.meta.note
    # the default is the mixed population: the same demos, cached
    assert main(["--demos", "2", "--tasks", "door", "--out", str(tmp_path), "--demos-only"]) == 0
    # the folder is mixed's: a run asking the expert for the same demos is refused by name
    assert main(["--demos", "2", "--tasks", "door", "--out", str(tmp_path), "--demos-only",
                 "--operator-population", "expert"]) != 0


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("short")
    start = time.perf_counter()
    code = main([*TINY, "--out", str(out)])
    return out, code, time.perf_counter() - start


def test_short_loop_writes_results_with_every_row_and_human_effort(short_run, capsys):
    out, code, _ = short_run
    results_dir = out / "results"
    for name in ("results.md", "results.json", "success_vs_round.png"):
        assert (results_dir / name).stat().st_size > 0, name
    results = json.loads((results_dir / "results.json").read_text())
    assert code == 0 and results["run"]["failed_cells"] == []
    rows = {r["row"]: r for r in results["table"]}
    assert list(rows) == ["bc", "policy", "hg-dagger"]
    demos, _ = load_episodes(out / "demos" / "door")
    rollouts, _ = load_episodes(out / "door" / "seed0" / "dexpie" / "rollouts" / "round_01")
    assert len(demos) == 2 and len(rollouts) == 3
    demo_steps = sum(e.num_ticks for e in demos)
    intervention_steps = sum(int(e.intervention.sum()) for e in rollouts)
    assert rows["bc"]["human_effort"]["human_steps"] == demo_steps
    for key in ("policy", "hg-dagger"):   # the same data, the same human effort
        assert rows[key]["human_effort"] == dict(
            human_steps=demo_steps + intervention_steps, demo_steps=demo_steps,
            intervention_steps=intervention_steps)
        assert rows[key]["episodes"] == 2 and len(rows[key]["intervention_rates"]) == 1
    assert rows["bc"]["episodes"] == 2 and rows["bc"]["per_seed"][0]["seed"] == 0
    assert [p["round"] for p in results["round_curves"]["door"]][0] == 0
    text = (results_dir / "results.md").read_text()
    for label in ("BC reference (demos)", "| door | DexPIE |", "HG-DAgger", "human steps"):
        assert label in text
    assert {c["kind"] for c in results["run"]["computed"]} >= {"demos", "train", "rollouts",
                                                                "eval"}


def test_rerun_is_fully_cached(short_run, capsys, monkeypatch):
    out, first_code, _ = short_run
    capsys.readouterr()
    from dexpie_experiment import pipeline as experiment_pipeline, pipeline_work

    def forbidden(*_args, **_kwargs):
        raise AssertionError("a cached cell was recomputed")
    for module, name in ((experiment_pipeline, "train_method"),
                         (experiment_pipeline, "train_critics"),
                         (experiment_pipeline, "label_episodes"),
                         (experiment_pipeline, "record_rollouts"),
                         (experiment_pipeline, "evaluate_checkpoint"),
                         (pipeline_work, "record_demos")):
        monkeypatch.setattr(module, name, forbidden)
    before = json.loads((out / "results" / "results.json").read_text())
    assert main([*TINY, "--out", str(out)]) == first_code
    printed = capsys.readouterr().out
    results = json.loads((out / "results" / "results.json").read_text())
    assert results["run"]["computed"] == []
    assert results["run"]["cached_cells"] == results["run"]["cells"] == 3
    cell_lines = [line for line in printed.splitlines() if line.startswith("[") and " | " in line]
    assert len(cell_lines) == 3 and all(": cached (" in line for line in cell_lines)
    assert "[demos] door: cached" in printed and "[train]" not in printed
    assert results["table"] == before["table"]
    assert "total time" in printed


def test_report_only_computes_nothing(short_run, capsys):
    out, code, _ = short_run
    assert main([*TINY, "--out", str(out), "--report-only"]) == 0
    printed = capsys.readouterr().out
    assert "| door | BC reference (demos) |" in printed and "computing" not in printed


def test_a_run_split_in_two_places_merges_into_one_table(tmp_path, capsys):
    """--only bc in one place, the rest in another with --merge-results: the second computes
    no BC evaluation, and its table is the whole plan with the first place's BC cell."""
    first, second = tmp_path / "first", tmp_path / "second"
    assert main([*TINY, "--only", "bc", "--out", str(first)]) == 0
    only_bc = json.loads((first / "results" / "results.json").read_text())
    assert [e["row"] for e in only_bc["entries"] if e["evaluated"]] == ["bc"]
    capsys.readouterr()
    merge = ["--merge-results", str(first / "results" / "results.json")]
    assert main([*TINY, "--out", str(second), *merge]) == 0
    printed = capsys.readouterr().out
    assert "BC reference (demos): done elsewhere" in printed
    assert not (second / "door" / "seed0" / "dexpie" / "bc_reference" / "eval.json").exists()
    results = json.loads((second / "results" / "results.json").read_text())
    rows = {r["row"]: r for r in results["table"]}
    assert all(r["episodes"] == 2 for r in rows.values())
    assert rows["bc"]["successes"] == only_bc["table"][0]["successes"]
    assert results["merged_from"][0]["cells"] == ["door seed 0 dexpie/bc round 0"]
    assert "Merged from" in (second / "results" / "results.md").read_text()
    # a report from the finished cells merges the same way
    assert main([*TINY, "--out", str(second), "--report-only", *merge]) == 0
    again = json.loads((second / "results" / "results.json").read_text())
    assert again["table"] == results["table"]
    capsys.readouterr()
    other_settings = json.loads(json.dumps(only_bc))
    other_settings["config"]["template"]["eval_episodes"] = 3
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps(other_settings))
    assert main([*TINY, "--out", str(tmp_path / "third"), "--merge-results", str(bad)]) == 2
    assert "template.eval_episodes (2 vs 3) differ" in capsys.readouterr().err
    assert not (tmp_path / "third" / "demos").exists()   # refused before computing anything


def test_a_run_split_by_training_seed_merges_into_the_whole_table(tmp_path, capsys):
    """--seeds 2 computed one seed per place (--only-seeds): each place evaluates its own
    seed's cells only, and a report merging the other place's results.json has both seeds
    in every row, each from the place that computed it."""
    two = [*TINY, "--seeds", "2"]
    first, second = tmp_path / "first", tmp_path / "second"
    assert main([*two, "--only-seeds", "0", "--out", str(first)]) == 0
    assert main([*two, "--only-seeds", "1", "--out", str(second)]) == 0
    capsys.readouterr()
    seed0 = json.loads((first / "results" / "results.json").read_text())
    assert {e["seed"] for e in seed0["entries"] if e["evaluated"]} == {0}
    for other_seed in (first / "door" / "seed1", second / "door" / "seed0"):   # settings pin only
        assert [f.name for f in other_seed.rglob("*") if f.is_file()] == ["pipeline.json"]
    merge = ["--merge-results", str(first / "results" / "results.json")]
    assert main([*two, "--out", str(second), "--report-only", *merge]) == 0
    results = json.loads((second / "results" / "results.json").read_text())
    assert all(r["episodes"] == 2 * 2 for r in results["table"])   # 2 seeds x 2 episodes
    assert sorted(results["merged_from"][0]["cells"]) == sorted(
        f"door seed 0 dexpie/{e['row']} round {e['round']}" for e in seed0["entries"]
        if e["evaluated"])
    assert main([*two, "--only-seeds", "2", "--out", str(tmp_path / "third")]) == 2
    assert "--only-seeds 2: not in this configuration's plan" in capsys.readouterr().err
    assert not (tmp_path / "third" / "demos").exists()   # refused before computing anything


@pytest.mark.parametrize("selection", [["--only", "sync"], ["--only-seeds", "1"],
                                       ["--only-tasks", "hammer"]])
def test_a_selection_outside_the_plan_is_refused(tmp_path, capsys, selection):
    assert main([*TINY, *selection, "--out", str(tmp_path)]) == 2
    assert (f"{' '.join(selection)}: not in this configuration's plan"
            in capsys.readouterr().err)
    assert not (tmp_path / "demos").exists()


def test_presets_and_options():
    short = suite_config(parse_args([]))
    assert short.tasks == tuple(TASK_NAMES) and short.demos == REFERENCE_DEMOS
    assert short.template.rounds == 2 and short.template.stage_mix == 0.5
    assert short.baselines == ("hg-dagger",) and short.seeds == (0,)
    full = suite_config(parse_args(["--full"]))
    assert len(full.seeds) >= 3 and full.template.eval_episodes >= 100
    assert set(full.ablations) == {"sync", "absolute", "init-only"}
    assert set(full.extra_demo_baselines) == {"bc-effort-demos", "bc-count-demos"}
    assert set(full.baselines) == {"hg-dagger", "hg-dagger-success", "iwr", "filtered-bc",
                                   "binary-indicator", "awr"}
    mixed = suite_config(parse_args(["--full", "--seeds", "1", "--bc-steps", "7", "--demos", "4",
                                     "--ablations", "sync", "--tasks", "door"]))
    assert mixed.seeds == (0,) and mixed.template.train_steps == 7
    assert mixed.demos == {"door": 4} and mixed.ablations == ("sync",)
    assert set(SHORT) == set(FULL)
    # the protocol: equal epochs for every method, the mixed population operating
    for preset in (short, full):
        assert preset.template.train_epochs > 0
        assert preset.template.operator_population == "mixed"
        assert preset.template.demonstrations == "successful"
        assert preset.template.critic_config().observation_noise == CRITIC_NOISE > 0
        assert preset.template.train_config("hg-dagger").demonstrations == "successful"
    assert full.template.train_epochs == FULL_EPOCHS
    steps = suite_config(parse_args(["--train-epochs", "0", "--operator-population", "expert",
                                     "--human-override", "successful",
                                     "--demonstrations", "all", "--critic-noise", "0"])).template
    assert (steps.train_epochs, steps.operator_population) == (0, "expert")
    assert steps.human_override == "successful" and steps.demonstrations == "all"
    assert steps.critic_observation_noise == 0.0


@pytest.mark.parametrize("argv, message", [
    (["--demos", "0"], "--demos must be >= 1, got 0"),
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--camera", "top"], "--camera works with --demos-only only"),
    (["--report-only"], "--report-only needs --out"),
    (["--critic-noise", "-1"], "--critic-noise must be a finite number >= 0, got -1.0"),
])
def test_rejects_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


def test_an_unusable_out_is_refused_before_anything_runs(tmp_path, capsys):
    taken = tmp_path / "results"
    taken.write_text("a file where the run's folder should go")
    for out in (taken, taken / "run"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--out", str(out), "--demos-only"])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith(f"dexpie-experiment: error: --out '{out}': ")
    assert taken.read_text().startswith("a file")


def test_every_task_has_a_reference_demo_budget():
    assert set(REFERENCE_DEMOS) == set(TASK_NAMES) and all(n >= 1 for n in REFERENCE_DEMOS.values())


def test_an_ablation_shares_the_reference_trained_by_epochs(tmp_path):
    """sync and init-only train their BC reference as the main loop does, so they use its
    checkpoint; trained by epochs, its training.json holds the steps the epochs came to
    (not the nominal --train-steps), and that is still the same reference."""
    argv = ["--full", "--seeds", "1", "--no-round-evals", *TINY, "--eval-episodes", "1",
            "--train-epochs", "1", "--only", "sync", "init-only", "--out", str(tmp_path)]
    assert main(argv) == 0
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert {e["row"] for e in results["entries"] if e["evaluated"]} == {"sync", "init-only"}
    assert results["run"]["failed_cells"] == []
    seed0 = tmp_path / "door" / "seed0"
    reference = json.loads((seed0 / "dexpie" / "bc_reference" / "policy" /
                            "training.json").read_text())["config"]
    assert reference["epochs"] == 1 and reference["steps"] != 20   # steps from the epochs
    for variant in ("sync", "init-only"):
        assert not (seed0 / variant / "bc_reference").exists()


def test_full_composition_tiny(tmp_path):
    """--full reduced to 1 seed: every baseline, both extra-demo baselines and the three
    ablations, each wired to its pipeline settings, on shared demos."""
    assert main(["--full", "--seeds", "1", "--no-round-evals", *TINY, "--eval-episodes", "1",
                 "--train-steps", "5", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    rows = {r["row"]: r for r in results["table"]}
    assert list(rows) == ["bc", "policy", "hg-dagger", "hg-dagger-success", "iwr", "filtered-bc",
                          "binary-indicator",
                          "awr", "bc-effort-demos", "bc-count-demos", "sync", "absolute",
                          "init-only"]
    assert all(r["episodes"] == 1 and r["human_effort"]["human_steps"] > 0 for r in rows.values())
    seed0 = tmp_path / "door" / "seed0"
    effort = json.loads((seed0 / "dexpie" / "bc-effort-demos" / "extra_demos.json").read_text())
    interventions = json.loads((seed0 / "dexpie" / "rollouts" / "round_01" / "summary.json")
                               .read_text())["overall"]["human_steps"]
    assert effort["intervention_steps"] == interventions
    assert rows["bc-effort-demos"]["extra_demos"] == [effort["count"]]
    assert rows["bc-count-demos"]["extra_demos"] == [3]   # 1 round x 3 rollouts
    assert rows["bc-count-demos"]["human_effort"]["intervention_steps"] == 0
    sync_eval = json.loads((seed0 / "sync" / "r1" / "policy" / "eval.json").read_text())
    assert sync_eval["eval_config"]["mode"] == "sync"
    assert not (seed0 / "sync" / "bc_reference").exists()        # shares dexpie's reference
    assert not (seed0 / "init-only" / "bc_reference").exists()
    spec = json.loads((seed0 / "absolute" / "bc_reference" / "policy" / "training.json")
                      .read_text())["config"]
    assert spec["arm_representation"] == "absolute_joint"
    init_only = json.loads((seed0 / "init-only" / "rollouts" / "round_01" / "summary.json")
                           .read_text())
    assert list(init_only["by_stage"]) == ["init"]


def test_sigterm_inside_stop_on_signals_interrupts_and_handlers_are_restored():
    import os
    import signal

    from dexpie_experiment.main_job import stop_on_signals
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with stop_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.monotonic()   # the handler runs between bytecodes; this gives it one
    assert signal.getsignal(signal.SIGTERM) is before


def test_stop_workers_kills_a_worker_that_ignores_sigterm(tmp_path):
    import subprocess
    import sys

    from dexpie_experiment.main_job import stop_workers
    stubborn = subprocess.Popen([sys.executable, "-c", (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    polite = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    for process in (stubborn, polite):   # both have installed their handlers
        assert process.stdout.readline().strip() == "ready"
    start = time.monotonic()
    stop_workers([(1, stubborn, tmp_path / "w1.log"), (2, polite, tmp_path / "w2.log")],
                 timeout_s=1.0)
    assert polite.returncode == -15 and stubborn.returncode == -9
    assert time.monotonic() - start < 10


def _processes_mentioning(text: str) -> list[int]:
    from pathlib import Path
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:   # the process ended while we looked
            continue
    return found


def test_kill_int_of_a_background_run_stops_it_and_its_worker(tmp_path):
    """`nohup dexpie-experiment ... &` from a script inherits SIGINT ignored; `kill -INT` of
    the main process must still stop it, and its worker with it (none left computing)."""
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "dexpie_experiment.main_job", *TINY, "--train-steps", "100000",
         "--jobs", "2", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    printed = []
    while not printed or "computing" not in printed[-1]:   # '' at EOF: it ended early
        printed.append(process.stdout.readline())
        assert printed[-1], "".join(printed)
    assert len(_processes_mentioning(str(out))) == 2   # the main process and worker 1
    process.send_signal(signal.SIGINT)
    try:
        rest, _ = process.communicate(timeout=60)
    finally:   # a failed stop must not leave the run computing behind the test suite
        for pid in _processes_mentioning(str(out)):
            os.kill(pid, signal.SIGKILL)
    printed = "".join(printed) + rest
    # 130, or death by SIGINT (a shell reports both as 130): strace shows that, depending on
    # where the signal lands (it came during the first cell's imports here), the interpreter
    # ends by kill(self, SIGINT) after run_experiment has caught the interrupt, cleaned up
    # and returned 130 - CPython's exit for a KeyboardInterrupt it counts as unhandled.
    assert process.returncode in (130, -signal.SIGINT), printed
    assert "interrupted after" in printed and "[jobs] worker 1 stopped" in printed
    assert _processes_mentioning(str(out)) == []
