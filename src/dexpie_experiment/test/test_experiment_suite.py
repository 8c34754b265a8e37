"""experiment_suite (composition of pipelines), extra_demos (effort-matched counts) and
results_report (pooling over seeds, table, plot) on plain data: nothing is trained here."""
import dataclasses
import json

import pytest

from dexpie_experiment.evaluation import wilson_interval
from dexpie_experiment.pipeline import PipelineConfig
from dexpie_experiment.suite import MAIN, ExperimentSuite, Selection, SuiteConfig
from dexpie_experiment.extra_demos import count_matched_demo_count, effort_matched_demo_count
from dexpie_experiment.results_report import (pool_seeds, round_curves, table, table_lines,
                                            write_results)


@pytest.mark.parametrize("interventions, demo_steps, demos, expected", [
    (0, 1000, 10, 0),          # no intervention: no extra demo
    (618, 1324, 10, 5),        # 618 steps at 132.4 per demo = 4.67 demos
    (66, 1320, 10, 1),         # exactly half a demo rounds up
    (65, 1320, 10, 0),
    (2640, 1320, 10, 20),
])
def test_effort_matched_demo_count(interventions, demo_steps, demos, expected):
    assert effort_matched_demo_count(interventions, demo_steps, demos) == expected


@pytest.mark.parametrize("args", [(10, 0, 10), (10, 100, 0), (-1, 100, 1)])
def test_effort_matched_demo_count_rejects_bad_input(args):
    with pytest.raises(ValueError):
        effort_matched_demo_count(*args)


def test_count_matched_demo_count():
    assert count_matched_demo_count(2, 40) == 80 and count_matched_demo_count(1, 3) == 3
    with pytest.raises(ValueError):
        count_matched_demo_count(-1, 3)


def test_pool_seeds_sums_seeds_and_uses_wilson():
    pooled = pool_seeds([(12, 30), (18, 30), (0, 30)])
    assert pooled["successes"] == 30 and pooled["episodes"] == 90
    assert pooled["rate"] == pytest.approx(1 / 3)
    assert pooled["ci95"] == pytest.approx(list(wilson_interval(30, 90)))
    assert pooled["per_seed_rates"] == pytest.approx([0.4, 0.6, 0.0])
    # pooling is narrower than one seed's interval at the same rate
    one = wilson_interval(10, 30)
    assert pooled["ci95"][1] - pooled["ci95"][0] < one[1] - one[0]
    assert pool_seeds([])["rate"] is None
    with pytest.raises(ValueError):
        pool_seeds([(5, 4)])


def _config(**changes) -> SuiteConfig:
    template = PipelineConfig(rounds=2, rollouts=3, eval_episodes=2, train_steps=5)
    return SuiteConfig(**dict(dict(tasks=("door", "relocate"), demos={"door": 2, "relocate": 3},
                                   seeds=(0, 1), template=template), **changes))


def test_suite_config_maps_ablations_to_pipeline_settings():
    config = _config(ablations=("sync", "absolute", "init-only"), baselines=("iwr",))
    main = config.pipeline_config("door", 1)
    assert (main.task, main.demos, main.train_seed, main.methods) == ("door", 2, 1,
                                                                       ("policy", "iwr"))
    assert config.pipeline_config("door", 0, "sync").rollout_mode == "sync"
    assert config.pipeline_config("door", 0, "sync").eval_mode == "sync"
    assert config.pipeline_config("door", 0, "absolute").arm_representation == "absolute_joint"
    assert config.pipeline_config("door", 0, "init-only").stage_mix == 0.0
    for variant in ("sync", "absolute", "init-only"):   # same data budget as the main loop
        other = config.pipeline_config("relocate", 0, variant)
        assert (other.rollouts, other.rounds, other.eval_episodes, other.first_eval_seed) == (
            3, 2, 2, main.first_eval_seed)


@pytest.mark.parametrize("changes, match", [
    (dict(demos={"door": 2}), "no demonstration budget for task 'relocate'"),
    (dict(ablations=("faster",)), "unknown ablations"),
    (dict(baselines=("policy",)), "unknown baselines"),
    (dict(extra_demo_baselines=("bc-more",)), "unknown extra_demo_baselines"),
    (dict(seeds=(0, 0)), "distinct"),
])
def test_suite_config_rejects_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        _config(**changes)


def test_plan_order_and_shared_cells(tmp_path):
    config = _config(ablations=("sync", "absolute", "init-only"),
                     extra_demo_baselines=("bc-effort-demos",))
    suite = ExperimentSuite(config, tmp_path, progress=False, log=lambda *_: None)
    cells = suite.plan()
    first = [(c.task, c.seed, c.row, c.round) for c in cells[:7]]
    assert first == [("door", 0, "bc", 0), ("door", 0, "policy", 1), ("door", 0, "policy", 2),
                     ("door", 0, "hg-dagger", 2), ("door", 0, "bc-effort-demos", 0),
                     ("door", 0, "sync", 2), ("door", 0, "absolute", 2)]
    assert [c.seed for c in cells].index(1) == len(cells) // 2   # seeds outermost
    assert len({c.eval_cell for c in cells}) == len(cells)        # every cell its own file
    main = suite.pipeline("door", 0)
    assert main.work == tmp_path / "door" / "seed0" / MAIN
    for variant in ("sync", "init-only"):   # same BC training: the reference is shared
        assert suite.pipeline("door", 0, variant).policy_dir("bc") == main.policy_dir("bc")
    assert suite.pipeline("door", 0, "absolute").policy_dir("bc") != main.policy_dir("bc")
    for variant in ("sync", "absolute", "init-only"):
        assert suite.pipeline("door", 0, variant).demo_folder == tmp_path / "demos" / "door"
    assert suite.pipeline("door", 1).extra_demo_root == tmp_path / "extra_demos" / "door"


def _entry(task, seed, row, successes, round_=0, variant=MAIN, rates=(), effort=(100, 0)):
    return dict(task=task, seed=seed, row=row, variant=variant, round=round_, label=row,
                trained=True, evaluated=True, successes=successes, episodes=10,
                ci95=list(wilson_interval(successes, 10)), mean_steps=100.0 + successes,
                intervention_rates=list(rates),
                human_effort=dict(human_steps=sum(effort), demo_steps=effort[0],
                                  intervention_steps=effort[1]))


def _results():
    entries = []
    for seed, (bc, r1, r2) in enumerate([(2, 4, 6), (3, 5, 8)]):
        entries += [_entry("door", seed, "bc", bc),
                    _entry("door", seed, "policy", r1, 1, rates=[0.2], effort=(100, 20)),
                    _entry("door", seed, "policy", r2, 2, rates=[0.2, 0.1 * (seed + 1)],
                           effort=(100, 40 + 10 * seed))]
    entries.append(dict(_entry("door", 0, "hg-dagger", 0, 2), evaluated=False))
    return dict(config=dict(tasks=["door"], demos={"door": 2}, seeds=[0, 1],
                            template=dataclasses.asdict(PipelineConfig(rounds=2))),
                rounds=2, rows=[dict(key=k, label=k) for k in ("bc", "policy", "hg-dagger")],
                entries=entries, pipelines={}, run=dict(failed_cells=[]))


def test_table_pools_seeds_and_reports_effort_and_rates():
    rows = {r["row"]: r for r in table(_results())}
    assert list(rows) == ["bc", "policy", "hg-dagger"]
    assert (rows["policy"]["successes"], rows["policy"]["episodes"]) == (14, 20)   # round 2
    assert [p["successes"] for p in rows["policy"]["per_seed"]] == [6, 8]
    assert rows["policy"]["human_effort"] == dict(human_steps=145, demo_steps=100,
                                                  intervention_steps=45)
    assert rows["policy"]["intervention_rates"] == pytest.approx([0.2, 0.15])
    assert rows["bc"]["intervention_rates"] == [] and rows["bc"]["successes"] == 5
    assert rows["hg-dagger"]["episodes"] == 0 and rows["hg-dagger"]["missing_seeds"] == [0]
    curve = round_curves(_results())["door"]
    assert [(p["round"], p["successes"]) for p in curve] == [(0, 5), (1, 9), (2, 14)]


def test_write_results_files(tmp_path):
    table_text, paths = write_results(tmp_path, _results())
    assert [p.name for p in paths] == ["results.md", "results.json", "success_vs_round.png",
                                       "mean_success.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert "| door | policy | 14/20 (0.70) |" in table_text
    assert "s0 6/10 · s1 8/10" in table_text and "0.200 → 0.150" in table_text
    assert "145 (100 + 45)" in table_text
    text = (tmp_path / "results.md").read_text()
    assert "Missing cells (not finished): door hg-dagger." in text
    assert "## Over the tasks" in text and "Target check" in table_text   # printed too
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["table"][1]["successes"] == 14 and saved["round_curves"]["door"][2]["round"] == 2


def _walk_finished_plan(config, out, worker, monkeypatch) -> list[str]:
    """The log lines of `worker`'s run over a plan whose every cell is already evaluated
    (run() then only walks the plan), one per cell in the order the worker takes them."""
    suite = ExperimentSuite(config, out, progress=False, log=lambda *_: None)
    for cell in suite.plan():
        cell.eval_cell.parent.mkdir(parents=True, exist_ok=True)
        cell.eval_cell.write_text(json.dumps(dict(successes=0, episodes=1)))
    seen = []
    monkeypatch.setattr(suite, "collect", lambda: {})
    suite.log = seen.append
    suite.run(worker=worker)
    return [line for line in seen if "cached" in line]


def test_each_worker_takes_the_tasks_in_its_own_order(tmp_path, monkeypatch):
    config = _config(tasks=("door", "relocate", "hammer"), demos={"door": 2, "relocate": 3, "hammer": 2})
    order = []
    for worker, expected in [(0, ["door", "relocate", "hammer"]), (1, ["hammer", "relocate", "door"]),
                             (2, ["relocate", "hammer", "door"])]:
        seen = _walk_finished_plan(config, tmp_path, worker, monkeypatch)
        tasks = [line.split("] ")[1].split(" |")[0] for line in seen]
        order.append(list(dict.fromkeys(tasks)))
        assert order[-1] == expected


def test_workers_on_one_task_with_several_seeds_start_on_different_seeds():
    from dexpie_experiment.suite import pipeline_order
    firsts = [pipeline_order(("hammer",), (0, 1, 2), worker)[0] for worker in range(3)]
    assert firsts == [(0, "hammer"), (2, "hammer"), (1, "hammer")]
    starts = [pipeline_order(("door", "hammer"), (0, 1), worker)[0] for worker in range(4)]
    assert len(set(starts)) == 4   # four workers, four pipelines: nobody waits at the start
    for worker in range(5):   # every worker still walks every pipeline once
        assert sorted(pipeline_order(("door", "hammer"), (0, 1), worker)) == [
            (0, "door"), (0, "hammer"), (1, "door"), (1, "hammer")]


def test_odd_workers_walk_a_pipeline_backwards(tmp_path, monkeypatch):
    config = _config(tasks=("door",), demos={"door": 2})
    walked = {}
    for worker in (0, 1):
        seen = _walk_finished_plan(config, tmp_path, worker, monkeypatch)
        walked[worker] = [line.split("| ")[-1].split(":")[0] for line in seen]
    assert walked[0][0].startswith("BC reference") and len(walked[0]) >= 3
    assert walked[1] == walked[0][::-1]


def test_every_seeds_main_comparison_comes_before_the_costlier_rows(tmp_path, monkeypatch):
    config = _config(ablations=("sync", "init-only"), extra_demo_baselines=("bc-effort-demos",))
    for worker in (0, 1):
        seen = _walk_finished_plan(config, tmp_path, worker, monkeypatch)
        walked = [line.split("] ")[1].split(":")[0].split(" | ") for line in seen]
        assert len(walked) == len(ExperimentSuite(config, tmp_path).plan())
        tiers = [2 if what.startswith("DexPIE, ") and "round" not in what
                 else 1 if what.startswith("BC + extra") else 0 for _, _, what in walked]
        assert tiers == sorted(tiers)   # tier outermost: the headline rows of every seed first
        main = [(task, seed) for (task, seed, _), tier in zip(walked, tiers) if tier == 0]
        assert len(main) == 2 * 2 * 4   # 2 seeds x 2 tasks x (bc, r1, r2, hg)
        seeds = [seed for _, seed in main]
        first_seed = "seed 0" if worker == 0 else "seed 1"
        # within a tier, seed by seed (this worker's seed first), every task of it
        assert seeds == sorted(seeds, reverse=worker == 1) and seeds[0] == first_seed
        assert {task for task, seed in main if seed == first_seed} == {"door", "relocate"}


def test_only_selects_rows_and_refuses_a_row_outside_the_plan(tmp_path):
    suite = ExperimentSuite(_config(ablations=("sync",)), tmp_path, progress=False)
    sync = suite.select(Selection(rows=("sync",)))
    assert [(c.task, c.seed) for c in sync] == [(t, s) for s in (0, 1) for t in ("door", "relocate")]
    assert {c.row for c in suite.select(Selection(rows=("bc", "sync")))} == {"bc", "sync"}
    assert len(suite.select()) == len(suite.plan())
    assert suite.config.rows == tuple(dict.fromkeys(c.row for c in suite.plan()))
    with pytest.raises(ValueError, match=r"--only absolute: not in this configuration's "
                                         r"plan \(its rows: bc policy hg-dagger sync\)"):
        suite.select(Selection(rows=("sync", "absolute")))


def test_only_seeds_and_tasks_select_their_cells_and_refuse_what_is_outside_the_plan(tmp_path):
    suite = ExperimentSuite(_config(ablations=("sync",)), tmp_path, progress=False)
    seed1 = suite.select(Selection(seeds=(1,)))
    assert {c.seed for c in seed1} == {1} and len(seed1) == len(suite.plan()) // 2
    assert {(c.row, c.task) for c in seed1} == {(c.row, c.task) for c in suite.plan()}
    assert [(c.task, c.seed) for c in suite.select(Selection(("sync",), (0,)))] == [
        ("door", 0), ("relocate", 0)]
    assert [(c.task, c.seed) for c in suite.select(Selection(("sync",), (0,), ("door",)))] == [
        ("door", 0)]
    assert {c.task for c in suite.select(Selection(tasks=("relocate",)))} == {"relocate"}
    assert len(suite.select(Selection(seeds=(0, 1)))) == len(suite.plan())
    with pytest.raises(ValueError, match=r"--only-seeds 2 5: not in this configuration's "
                                         r"plan \(its training seeds: 0 1; --seeds N: 0..N-1\)"):
        suite.select(Selection(seeds=(1, 2, 5)))
    with pytest.raises(ValueError, match=r"--only-tasks hammer: not in this configuration's "
                                         r"plan \(its tasks: door relocate\)"):
        suite.select(Selection(tasks=("door", "hammer")))


def test_only_seeds_computes_that_seeds_cells_only(tmp_path, monkeypatch):
    """A worker of `--only-seeds 1` walks seed 1's cells only, whichever worker it is."""
    suite = ExperimentSuite(_config(), tmp_path, progress=False)
    computed = []
    monkeypatch.setattr(suite, "plan", lambda plan=suite.plan: [
        dataclasses.replace(c, run=lambda c=c: computed.append((c.seed, c.task)) or dict(
            successes=1, episodes=2)) for c in plan()])
    monkeypatch.setattr(suite, "collect", lambda: {})
    suite.log = lambda line: None
    for worker in (0, 1, 2):
        computed.clear()
        suite.run(worker, Selection(seeds=(1,)))
        assert {seed for seed, _ in computed} == {1}
        assert len(computed) == len(suite.select(Selection(seeds=(1,))))


def test_cells_done_elsewhere_are_not_computed(tmp_path, monkeypatch):
    """--only sync with every sync cell but one done elsewhere: that one is computed (here:
    its run is recorded instead), the rest are logged as merged, other rows not touched."""
    suite = ExperimentSuite(_config(ablations=("sync",)), tmp_path, progress=False)
    computed, seen = [], []
    monkeypatch.setattr(suite, "plan", lambda plan=suite.plan: [
        dataclasses.replace(c, run=lambda c=c: computed.append(c.name) or dict(
            successes=1, episodes=2)) for c in plan()])
    monkeypatch.setattr(suite, "collect", lambda: {})
    suite.log = seen.append
    elsewhere = frozenset(c.key for c in suite.select(Selection(rows=("sync",)))
                          if (c.task, c.seed) != ("door", 1))
    suite.run(selection=Selection(rows=("sync",)), done_elsewhere=elsewhere)
    assert computed == ["door | seed 1 | DexPIE, synchronous inference"]
    assert sum("done elsewhere" in line for line in seen) == 3
    assert not any("BC reference" in line or "HG-DAgger" in line for line in seen)


def test_a_row_on_some_seeds_says_how_many_of_how_many():
    results = _results()
    results["entries"].append(_entry("door", 1, "hg-dagger", 7, 2))   # seed 0's is missing
    text = "\n".join(table_lines(table(results)))
    assert "| door | hg-dagger | 7/10 (0.70) (1 of 2 seeds done) |" in text
    assert "| door | policy | 14/20 (0.70) |" in text   # complete rows say nothing


def test_rows_trained_on_labels_show_their_critics_ranking_accuracy():
    results = _results()
    for e in results["entries"]:
        e["method"] = {"bc": "bc", "policy": "policy", "hg-dagger": "hg-dagger"}[e["row"]]
    results["pipelines"] = {f"door/seed{s}/{MAIN}": dict(critic=dict(diagnostics=dict(
        ranking_accuracy=accuracy, ranking_pairs=10))) for s, accuracy in ((0, 0.6), (1, 0.8))}
    rows = {r["row"]: r for r in table(results)}
    assert rows["policy"]["critic_ranking"] == pytest.approx(0.7)   # mean over the seeds
    assert rows["bc"]["critic_ranking"] is None and rows["hg-dagger"]["critic_ranking"] is None
    text = "\n".join(table_lines(list(rows.values())))
    assert "critic ranking (held-out) |" in text.splitlines()[0]
    policy_line = next(line for line in text.splitlines() if "| door | policy |" in line)
    bc_line = next(line for line in text.splitlines() if "| door | bc |" in line)
    assert policy_line.endswith("| 0.70 |") and bc_line.endswith("| – |")
    del results["pipelines"]["door/seed1/" + MAIN]     # a seed whose critic is not done yet
    assert {r["row"]: r for r in table(results)}["policy"]["critic_ranking"] == pytest.approx(0.6)
