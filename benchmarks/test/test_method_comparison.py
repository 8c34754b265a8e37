"""benchmarks/method_comparison.py end to end on tiny settings: every cell is computed once,
read back (never recomputed) on a second run, and a partial table names missing cells."""
import importlib.util
import json
from pathlib import Path

import pytest

from dexpie_experiment import pipeline as experiment_pipeline
from dexpie_episode import load_episodes

SCRIPT = Path(__file__).resolve().parents[1] / "method_comparison.py"
TINY = ["--demos", "2", "--rollouts", "4", "--steps", "5", "--eval-episodes", "1",
        "--hidden-size", "32", "--num-layers", "1", "--batch-size", "16", "--horizon", "8",
        "--critic-steps", "5", "--critic-hidden-size", "32", "--critic-batch-size", "32",
        "--critic-bins", "21", "--quiet", "--diagnostics"]
ALL_METHODS = ["bc", "policy", "hg-dagger", "iwr", "filtered-bc", "binary-indicator", "awr",
               "hg-dagger-success"]


def _load_script():
    spec = importlib.util.spec_from_file_location("method_comparison", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    script = _load_script()
    args = [*TINY, "--work", str(root / "work"), "--out", str(root / "out" / "cmp.json")]
    assert script.main(args) == 0
    return script, root, args


def test_every_cell_is_computed_with_effort_and_critic(finished):
    _, root, _ = finished
    report = json.loads((root / "out" / "cmp.json").read_text())
    assert report["complete"]
    assert [r["method"] for r in report["rows"]] == ALL_METHODS
    for name in ("cmp.md", "cmp.png", "cmp_values.png", "cmp_indicators.png"):
        assert (root / "out" / name).stat().st_size > 0, name
    demos, _ = load_episodes(root / "work" / "demos")
    rollouts, _ = load_episodes(root / "work" / "rollouts" / "round_01")
    assert len(demos) == 2 and len(rollouts) == 4
    demo_steps = sum(e.num_ticks for e in demos)
    intervention_steps = sum(int(e.intervention.sum()) for e in rollouts)
    assert intervention_steps == report["rounds"][0]["overall"]["human_steps"]
    rows = {r["method"]: r for r in report["rows"]}
    assert rows["bc"]["human_effort"]["human_steps"] == demo_steps
    for method in ALL_METHODS[1:]:
        # every method's data cost the same: all demos + all interventions
        assert rows[method]["human_effort"]["human_steps"] == demo_steps + intervention_steps
        assert rows[method]["episodes"] == 1 and 0 <= rows[method]["success_rate"] <= 1
    assert rows["policy"]["deployment"] == {"optimality": 1.0, "cfg_scale": 1.5}
    assert rows["hg-dagger"]["deployment"] is None
    assert report["critic"]["episodes"] == 6
    assert "ranking_accuracy" in report["critic"]["diagnostics"]
    groups = report["labels"]["groups"]
    assert groups["demos"]["ticks"] == demo_steps
    assert report["labels"]["value_step"]["mean_abs"] >= 0
    assert report["labels"]["value_step"]["target_per_step"] == 1 / 200   # relocate's L
    assert "| DexPIE" in (root / "out" / "cmp.md").read_text()
    conditions = {r["condition"]: r for r in report["conditions"]}
    assert set(conditions) == set(_load_script().CONDITIONS)
    assert conditions["null condition"]["optimality"] is None
    assert all(r["episodes"] == 1 for r in conditions.values())


def test_second_run_recomputes_nothing(finished, monkeypatch):
    script, root, args = finished
    before = (root / "out" / "cmp.json").read_text()

    def forbidden(*_args, **_kwargs):
        raise AssertionError("a cached cell was recomputed")
    monkeypatch.setattr(experiment_pipeline, "train_method", forbidden)
    monkeypatch.setattr(experiment_pipeline, "train_critics", forbidden)
    monkeypatch.setattr(experiment_pipeline, "label_episodes", forbidden)
    assert script.main(args) == 0
    assert json.loads((root / "out" / "cmp.json").read_text())["rows"] == json.loads(before)["rows"]


def test_report_only_names_missing_cells_and_other_settings_are_refused(finished, tmp_path):
    script, root, args = finished
    eval_file = root / "work" / "r1" / "awr" / "eval.json"
    eval_file.rename(tmp_path / "eval.json")
    try:
        out = tmp_path / "partial.json"
        assert script.main([*args, "--report-only", "--out", str(out)]) == 0
        report = json.loads(out.read_text())
        rows = {r["method"]: r for r in report["rows"]}
        assert not report["complete"] and not rows["awr"]["evaluated"] and rows["awr"]["trained"]
        assert rows["policy"]["evaluated"]
        assert "Missing cells (not finished): awr." in out.with_suffix(".md").read_text()
    finally:
        (tmp_path / "eval.json").rename(eval_file)
    with pytest.raises(ValueError, match="rollouts=4"):
        script.main([*args, "--rollouts", "5", "--report-only"])


def test_null_condition_runner_asks_for_the_null_model(monkeypatch):
    script = _load_script()
    seen = {}

    def record(self, *args, **kwargs):
        seen.update(kwargs)
        return "chunk"
    monkeypatch.setattr(script.PolicyRunner, "predict_chunk", record)
    runner = object.__new__(script.NullConditionRunner)
    assert runner.predict_chunk(None, optimality=1.0, cfg_scale=1.5) == "chunk"
    assert seen == {"optimality": None, "cfg_scale": 1.0}
