"""results_headline: means over tasks, paired differences and the target check, on plain
entries (nothing is trained)."""
import pytest

from dexpie_experiment.results_headline import (headline, headline_lines, mean_over_tasks,
                                              plot_headline, seed_outcomes)

LABELS = {"bc": "BC", "policy": "DexPIE", "hg-dagger": "HG-DAgger", "sync": "DexPIE sync"}


def _entry(task, seed, row, successes, episodes=100, round_=2, evaluated=True):
    return dict(task=task, seed=seed, row=row, round=round_, successes=successes,
                episodes=episodes, evaluated=evaluated)


def _results(entries, tasks=("door", "hammer")):
    return dict(config=dict(tasks=list(tasks)), rounds=2, entries=entries)


def test_seed_outcomes_take_dexpies_last_round_and_evaluated_cells_only():
    outcomes = seed_outcomes(_results([
        _entry("door", 0, "policy", 10, round_=1), _entry("door", 0, "policy", 60),
        _entry("door", 1, "bc", 5, round_=0), _entry("door", 2, "bc", 7, round_=0, evaluated=False)]))
    assert outcomes == {"policy": {"door": {0: (60, 100)}}, "bc": {"door": {1: (5, 100)}}}


def test_mean_over_tasks_is_the_mean_of_pooled_task_rates_with_an_interval_around_it():
    outcomes = {"bc": {"door": {0: (80, 100), 1: (60, 100)}, "hammer": {0: (20, 100)}}}
    mean = mean_over_tasks(outcomes, ["bc"], ["door", "hammer"])
    assert mean["point"] == pytest.approx((0.7 + 0.2) / 2)
    low, high = mean["ci95"]
    assert low < mean["point"] < high and high - low < 0.3
    assert mean_over_tasks(outcomes, ["bc"], ["door", "relocate"]) is None   # a task missing


def test_zero_successes_still_have_an_upper_bound_above_zero():
    mean = mean_over_tasks({"bc": {"door": {0: (0, 30)}}}, ["bc"], ["door"])
    assert mean["point"] == 0 and mean["ci95"][0] == 0 and mean["ci95"][1] > 0.005


@pytest.mark.parametrize("successes, episodes", [(0, 2), (2, 2), (0, 1), (1, 1)])
def test_the_interval_holds_the_estimate_even_for_tiny_all_or_nothing_cells(successes, episodes):
    mean = mean_over_tasks({"bc": {"door": {0: (successes, episodes)}}}, ["bc"], ["door"])
    assert mean["ci95"][0] <= mean["point"] <= mean["ci95"][1]


def test_difference_is_paired_by_training_seed_and_uses_common_seeds_only():
    # Seeds differ a lot, DexPIE is 20 points above HG-DAgger on every seed.
    spread = {0: 10, 1: 50, 2: 90}
    outcomes = {"policy": {"door": {s: (min(r + 20, 100) if r < 90 else 100, 100)
                                    for s, r in spread.items()}},
                "hg-dagger": {"door": {**{s: (r, 100) for s, r in spread.items()},
                                       3: (0, 100)}}}   # seed 3: HG-DAgger only, not compared
    difference = mean_over_tasks(outcomes, ["policy", "hg-dagger"], ["door"], seed=1)
    assert difference["point"] == pytest.approx((30 + 70 + 100 - 150) / 300)
    each = mean_over_tasks(outcomes, ["policy"], ["door"], seed=1)
    # Pairing removes the seed spread: the difference's interval is far narrower.
    assert (difference["ci95"][1] - difference["ci95"][0]) < 0.5 * (each["ci95"][1] - each["ci95"][0])
    assert difference["ci95"][0] > 0


def _two_task_results(dexpie, bc, hg, sync=None):
    entries = []
    for task in ("door", "hammer"):
        entries += [_entry(task, 0, "policy", dexpie), _entry(task, 0, "bc", bc, round_=0),
                    _entry(task, 0, "hg-dagger", hg)]
        if sync is not None:
            entries.append(_entry(task, 0, "sync", sync))
    return _results(entries)


def test_target_met_only_with_the_gain_and_ahead_of_every_row():
    met = headline(_two_task_results(dexpie=80, bc=40, hg=70, sync=60), LABELS, samples=500)
    assert met["verdict"]["met"] and met["verdict"]["gain_over_reference"] == pytest.approx(0.4)
    short = headline(_two_task_results(dexpie=70, bc=40, hg=50), LABELS, samples=500)
    assert not short["verdict"]["met"] and not short["verdict"]["gain_met"]
    behind = headline(_two_task_results(dexpie=80, bc=40, hg=80, sync=60), LABELS, samples=500)
    assert not behind["verdict"]["met"] and behind["verdict"]["not_ahead_of"] == ["hg-dagger"]
    text = "\n".join(headline_lines(behind, LABELS))
    assert "**not met**" in text and "not ahead of HG-DAgger" in text and "+40 points" in text


def test_a_row_missing_on_a_task_is_named_not_counted_as_beaten():
    results = _two_task_results(dexpie=80, bc=40, hg=50)
    results["entries"] = [e for e in results["entries"]
                          if not (e["row"] == "hg-dagger" and e["task"] == "hammer")]
    summary = headline(results, LABELS, samples=500)
    assert summary["verdict"]["rows_not_compared"] == ["hg-dagger"] and not summary["verdict"]["met"]
    assert summary["means"]["hg-dagger"] is None
    assert "not yet compared with HG-DAgger" in "\n".join(headline_lines(summary, LABELS))


def test_a_planned_row_with_no_evaluated_cell_yet_blocks_the_verdict():
    results = _two_task_results(dexpie=80, bc=40, hg=50, sync=60)
    for e in results["entries"]:
        if e["row"] == "sync":
            e["evaluated"] = False
    summary = headline(results, LABELS, samples=500)
    assert summary["verdict"]["rows_not_compared"] == ["sync"] and not summary["verdict"]["met"]
    assert "| DexPIE sync | incomplete | incomplete | – |" in "\n".join(headline_lines(summary, LABELS))


def test_without_dexpie_or_the_reference_the_check_is_incomplete():
    results = _two_task_results(dexpie=80, bc=40, hg=50)
    results["entries"] = [e for e in results["entries"] if e["row"] != "policy"]
    summary = headline(results, LABELS, samples=500)
    assert summary["verdict"] is None
    assert "Target check: incomplete" in "\n".join(headline_lines(summary, LABELS))


def test_a_row_on_fewer_seeds_than_dexpie_is_named_partial_and_blocks_the_verdict():
    results = _two_task_results(dexpie=80, bc=40, hg=50, sync=60)
    for task in ("door", "hammer"):
        results["entries"] += [_entry(task, 1, "policy", 80), _entry(task, 1, "bc", 40, round_=0),
                               _entry(task, 1, "hg-dagger", 50)]
    results["entries"].append(_entry("door", 1, "sync", 60))   # hammer seed 1 still missing
    summary = headline(results, LABELS, samples=500)
    verdict = summary["verdict"]
    assert verdict["rows_on_fewer_seeds"] == ["sync"] and verdict["gain_met"] and not verdict["met"]
    assert summary["seeds_per_task"] == {"sync": {"door": [0, 1], "hammer": [0]}}
    text = "\n".join(headline_lines(summary, LABELS))
    assert "| DexPIE sync (partial; seeds door 0, 1 · hammer 0) | " in text
    assert "fewer training seeds than DexPIE's: DexPIE sync" in text
    results["entries"].append(_entry("hammer", 1, "sync", 60))
    assert headline(results, LABELS, samples=500)["verdict"]["met"]


def test_the_papers_rates_stand_next_to_the_rows_it_reports(tmp_path):
    summary = headline(_two_task_results(dexpie=80, bc=40, hg=70, sync=60), LABELS, samples=200)
    lines = headline_lines(summary, LABELS)
    assert "the paper (real robot, human operators) |" in lines[2]
    row = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}
    assert row["DexPIE"].endswith("| 0.873 |") and row["HG-DAgger"].endswith("| 0.753 |")
    assert row["BC"].endswith("| 0.500 |")
    assert row["DexPIE sync"].endswith("| – |")   # the paper has no such row
    plot_headline(summary, LABELS, tmp_path / "mean.png")
    assert (tmp_path / "mean.png").stat().st_size > 0
