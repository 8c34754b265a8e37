"""The README's main job, reduced: one demonstration per task end to end into bags."""
import json

import pytest

from dexpie_bringup.experiment import main
from dexpie_learning.episode import OUTCOME_SUCCESS, load_episodes
from dexpie_sim.registry import TASK_NAMES


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
        assert len(episode.time) == row["steps"] > 0
        assert episode.intervention.all()  # a demonstration is human-operated on every tick
        assert (episode.outcome == OUTCOME_SUCCESS) == bool(row["successes"])


def test_rejects_bad_demo_count(capsys):
    with pytest.raises(SystemExit):
        main(["--demos", "0"])
    assert "--demos must be >= 1, got 0" in capsys.readouterr().err


def test_main_job_trains_and_evaluates_the_bc_reference(tmp_path, capsys):
    assert main(["--tasks", "relocate", "--demos", "2", "--bc-steps", "5", "--eval-episodes", "2",
                 "--out", str(tmp_path)]) == 0
    reports = json.loads((tmp_path / "bc_evaluation.json").read_text())
    assert [r["task"] for r in reports] == ["relocate"] and reports[0]["episodes"] == 2
    assert (tmp_path / "policies" / "relocate_bc" / "model.safetensors").is_file()
    assert (tmp_path / "policies" / "relocate_bc" / "loss.png").is_file()
    assert "BC reference" in capsys.readouterr().out


def test_every_task_has_a_reference_demo_budget():
    from dexpie_bringup.experiment import REFERENCE_DEMOS
    assert set(REFERENCE_DEMOS) == set(TASK_NAMES) and all(n >= 1 for n in REFERENCE_DEMOS.values())
