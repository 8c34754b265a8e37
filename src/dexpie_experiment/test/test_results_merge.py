"""results_merge: one configuration's results computed in two places, joined cell by cell;
other settings, other demos and disagreeing cells are refused. Plain dicts, nothing trained."""
import copy

import pytest

from dexpie_experiment.evaluation import wilson_interval
from dexpie_experiment.results_merge import cell_key, evaluated_keys, merge_results
from dexpie_experiment.results_report import table


def _entry(task, seed, row, successes=None, variant="dexpie", round_=0):
    entry = dict(task=task, seed=seed, variant=variant, row=row, round=round_, label=row,
                 method=row, trained=successes is not None, evaluated=successes is not None,
                 intervention_rates=[])
    if successes is not None:
        entry.update(successes=successes, episodes=10, human_effort=dict(
            human_steps=100, demo_steps=100, intervention_steps=0), mean_steps=100.0,
            ci95=list(wilson_interval(successes, 10)))
    return entry


def _results(cells: dict, note: str) -> dict:
    """cells: (task, seed, variant, row) -> successes or None (missing); every place has
    the whole plan, evaluated or not, as `ExperimentSuite.collect()` writes it."""
    entries = [_entry(task, seed, row, successes, variant, 2 if row != "bc" else 0)
               for (task, seed, variant, row), successes in cells.items()]
    pipelines = {f"{t}/seed{s}/{v}": dict(note=note) for t, s, v, _ in cells}
    return dict(config=dict(tasks=["door"], seeds=[0, 1], template=dict(eval_episodes=10)),
                demos=dict(door=dict(steps=831)), rounds=2, entries=entries,
                pipelines=pipelines, rows=[dict(key=k, label=k) for k in ("bc", "sync")],
                run=dict(failed_cells=[]), table=["stale"], headline={"stale": True})


PLAN = [("door", 0, "dexpie", "bc"), ("door", 1, "dexpie", "bc"),
        ("door", 0, "sync", "sync"), ("door", 1, "sync", "sync")]


def _place(done: dict, note: str) -> dict:
    return _results({cell: done.get(cell) for cell in PLAN}, note)


def test_each_cell_comes_from_the_place_that_evaluated_it():
    here = _place({PLAN[0]: 3, PLAN[1]: 4, PLAN[2]: 1}, "here")
    there = _place({PLAN[3]: 7}, "there")
    merged = merge_results(here, {"there.json": there})
    assert [e.get("successes") for e in merged["entries"]] == [3, 4, 1, 7]
    assert all(e["evaluated"] for e in merged["entries"])
    assert evaluated_keys(merged) == {cell_key(e) for e in merged["entries"]}
    # the pipeline's report comes with its cells: door/seed1/sync was evaluated there
    assert merged["pipelines"]["door/seed1/sync"] == dict(note="there")
    assert merged["pipelines"]["door/seed0/sync"] == dict(note="here")
    assert merged["merged_from"] == [dict(results="there.json",
                                          cells=["door seed 1 sync/sync round 2"])]
    assert "table" not in merged and "headline" not in merged   # derived again by the writer
    rows = {r["row"]: r for r in table(merged)}
    assert (rows["sync"]["successes"], rows["sync"]["episodes"]) == (8, 20)
    assert rows["sync"]["missing_seeds"] == []
    assert here["entries"][3]["evaluated"] is False   # inputs are not modified


def test_a_cell_missing_everywhere_stays_missing_and_pipelines_tie_to_here():
    here = _place({PLAN[0]: 3}, "here")
    there = _place({PLAN[1]: 5}, "there")
    merged = merge_results(here, {"there.json": there})
    assert [e["evaluated"] for e in merged["entries"]] == [True, True, False, False]
    assert merged["pipelines"]["door/seed1/dexpie"] == dict(note="there")
    assert merged["pipelines"]["door/seed0/sync"] == dict(note="here")   # nobody evaluated it


def test_a_cell_evaluated_in_both_places_must_agree():
    here = _place({PLAN[0]: 3}, "here")
    same = merge_results(here, {"a.json": _place({PLAN[0]: 3, PLAN[2]: 2}, "a")})
    assert same["entries"][0]["successes"] == 3 and same["merged_from"][0]["cells"] == [
        "door seed 0 sync/sync round 2"]
    with pytest.raises(ValueError, match=r"door seed 0 dexpie/bc round 0 was evaluated twice "
                                         r"with different outcomes: 3/10 here, 4/10 in b.json"):
        merge_results(here, {"b.json": _place({PLAN[0]: 4}, "b")})
    # two other places disagreeing with each other are refused too, naming both
    with pytest.raises(ValueError, match=r"2/10 in a.json, 5/10 in b.json"):
        merge_results(_place({}, "here"), {"a.json": _place({PLAN[2]: 2}, "a"),
                                           "b.json": _place({PLAN[2]: 5}, "b")})


def test_a_run_on_fewer_of_the_same_training_seeds_merges():
    here = _place({PLAN[1]: 4, PLAN[3]: 7}, "here")
    seed0 = _results({cell: 3 for cell in PLAN if cell[1] == 0}, "seed0")
    seed0["config"]["seeds"] = [0]
    merged = merge_results(here, {"seed0.json": seed0})
    assert [e.get("successes") for e in merged["entries"]] == [3, 4, 3, 7]
    assert merged["config"]["seeds"] == [0, 1]   # the whole configuration's
    other = copy.deepcopy(seed0)
    other["config"]["seeds"] = [0, 2]
    with pytest.raises(ValueError, match=r"other settings \(seeds \(\[0, 1\] vs \[0, 2\]\)"):
        merge_results(here, {"other.json": other})
    other["config"]["seeds"] = [0]
    other["config"]["template"]["eval_episodes"] = 30   # fewer seeds, another setting
    with pytest.raises(ValueError, match=r"template.eval_episodes \(10 vs 30\)"):
        merge_results(here, {"other.json": other})


def test_other_settings_demos_or_cells_are_refused_by_name():
    here = _place({PLAN[0]: 3}, "here")
    other = _place({PLAN[1]: 5}, "there")
    other["config"]["template"]["eval_episodes"] = 30
    with pytest.raises(ValueError, match=r"there.json was made with other settings "
                                         r"\(template.eval_episodes \(10 vs 30\) differ\)"):
        merge_results(here, {"there.json": other})
    other = _place({PLAN[1]: 5}, "there")
    other["demos"]["door"]["steps"] = 830
    with pytest.raises(ValueError, match="other demonstrations for door"):
        merge_results(here, {"there.json": other})
    other = _place({PLAN[1]: 5}, "there")
    other["entries"].append(_entry("door", 2, "bc", 1))
    with pytest.raises(ValueError, match="cells outside this plan: door seed 2 dexpie/bc"):
        merge_results(here, {"there.json": other})


def test_tuples_in_this_places_config_match_their_json_lists():
    here = _place({PLAN[0]: 3}, "here")
    here["config"]["tasks"] = ("door",)   # a live SuiteConfig.to_dict() may hold tuples
    there = copy.deepcopy(_place({PLAN[1]: 5}, "there"))
    assert merge_results(here, {"there.json": there})["entries"][1]["successes"] == 5
