"""benchmarks/success_by_operator.py: runs of several operator populations side by side."""
import importlib.util
import json
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "success_by_operator", Path(__file__).resolve().parents[1] / "success_by_operator.py")
by_operator = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(by_operator)


def _run(population, means, steps=1200):
    return dict(config=dict(tasks=["door", "hammer"], seeds=[0], demos={"door": 5, "hammer": 10},
                            template=dict(operator_population=population, train_steps=steps,
                                          torch_threads=1)),
                rows=[dict(key="bc", label="BC"), dict(key="policy", label="DexPIE")],
                headline=dict(means={row: None if rate is None else dict(
                    point=rate, ci95=[rate - 0.1, rate + 0.1]) for row, rate in means.items()}))


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


def test_runs_that_differ_in_more_than_the_operator_are_refused(tmp_path):
    with pytest.raises(ValueError, match="differ in train_steps: 3000 vs 1200"):
        by_operator.success_by_operator([_run("expert", dict(bc=0.5)),
                                         _run("mixed", dict(bc=0.4), steps=3000)])
    with pytest.raises(ValueError, match="two runs with operator population 'mixed'"):
        by_operator.success_by_operator([_run("mixed", dict(bc=0.5)), _run("mixed", dict(bc=0.4))])
    with pytest.raises(FileNotFoundError, match="--report-only"):
        by_operator.load_run(tmp_path)


def test_plot_and_json_are_written(tmp_path):
    summary = by_operator.success_by_operator([_run("okay", dict(bc=0.3, policy=0.4)),
                                               _run("better", dict(bc=0.5, policy=0.6))])
    by_operator.plot(summary, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
    json.dumps(summary)
