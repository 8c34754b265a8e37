"""benchmarks/success_by_operator.py: runs of several operator populations side by side."""
import importlib.util
import json
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "success_by_operator", Path(__file__).resolve().parents[1] / "success_by_operator.py")
by_operator = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(by_operator)


def _cell(task, row, successes, human_steps, ranking=None):
    return dict(task=task, row=row, successes=successes, episodes=100,
                ci95=[successes / 200, min(1.0, successes / 50)], seeds=[0],
                human_effort=dict(human_steps=human_steps), critic_ranking=ranking)


def _run(population, means, steps=1200, table=()):
    return dict(config=dict(tasks=["door", "hammer"], seeds=[0], demos={"door": 5, "hammer": 10},
                            template=dict(operator_population=population, train_steps=steps,
                                          torch_threads=1)),
                rows=[dict(key="bc", label="BC"), dict(key="policy", label="DexPIE")],
                headline=dict(means={row: None if rate is None else dict(
                    point=rate, ci95=[rate - 0.1, rate + 0.1]) for row, rate in means.items()}),
                table=list(table))


def test_populations_are_ordered_by_skill_and_rows_kept():
    runs = [_run("mixed", dict(bc=0.3, policy=0.5)), _run("expert", dict(bc=0.6, policy=0.7)),
            _run("worse", dict(bc=0.1, policy=None))]
    summary = by_operator.success_by_operator(runs)
    assert summary["populations"] == ["worse", "expert", "mixed"]
    assert summary["rows"] == ["bc", "policy"]
    assert "policy" not in summary["means"]["worse"]   # not evaluated there: left out
    lines = by_operator.table_lines(summary)
    assert lines[0] == "| method | worse | expert | mixed |"
    assert lines[3] == "| DexPIE | – | 0.70 [0.60, 0.80] | 0.50 [0.40, 0.60] |"


def test_per_task_lines_show_missing_cells_effort_and_ranking():
    # a population with no evaluated hammer cell: its means are left out, door still shows
    worse = _run("worse", dict(bc=None, policy=None), table=[
        _cell("door", "bc", 12, 900), _cell("door", "policy", 30, 1500, ranking=0.81)])
    expert = _run("expert", dict(bc=0.6, policy=0.7), table=[
        _cell("door", "bc", 60, 800), _cell("door", "policy", 70, 1000, ranking=0.9),
        _cell("hammer", "bc", 60, 700), _cell("hammer", "policy", 70, 950, ranking=0.95)])
    summary = by_operator.success_by_operator([expert, worse])
    lines = by_operator.task_lines(summary)
    door = lines.index("| method | worse | expert |", lines.index(
        "door: successes / episodes (human steps per training seed; critic ranking next to "
        "DexPIE)"))
    assert lines[door + 2] == "| BC | 12/100 (900) | 60/100 (800) |"
    assert lines[door + 3] == "| DexPIE | 30/100 (1500), ranking 0.81 | 70/100 (1000), ranking 0.90 |"
    hammer = lines.index("| method | worse | expert |", door + 1)
    assert lines[hammer + 2] == "| BC | – | 60/100 (700) |"
    assert by_operator.table_lines(summary)[2] == "| BC | – | 0.60 [0.50, 0.70] |"


def test_runs_that_differ_in_more_than_the_operator_are_refused(tmp_path):
    with pytest.raises(ValueError, match="differ in train_steps: 3000 vs 1200"):
        by_operator.success_by_operator([_run("expert", dict(bc=0.5)),
                                         _run("mixed", dict(bc=0.4), steps=3000)])
    with pytest.raises(ValueError, match="two runs with operator population 'mixed'"):
        by_operator.success_by_operator([_run("mixed", dict(bc=0.5)), _run("mixed", dict(bc=0.4))])
    with pytest.raises(FileNotFoundError, match="--report-only"):
        by_operator.load_run(tmp_path)


def test_plot_and_json_are_written(tmp_path):
    summary = by_operator.success_by_operator([
        _run("okay", dict(bc=0.3, policy=0.4), table=[_cell("door", "bc", 30, 900)]),
        _run("better", dict(bc=0.5, policy=0.6), table=[_cell("hammer", "policy", 60, 900)])])
    by_operator.plot(summary, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
    json.dumps(summary)
