"""BC from demonstration bags end to end (tiny sizes), the train CLI's error handling, and
the evaluation harness."""
import json
import shutil

import numpy as np
import pytest

from dexpie_experiment.evaluation import EvalConfig, evaluate_policy, wilson_interval
from dexpie_experiment.sim_collection import record_operator_demo
from dexpie_learning.train.bc import BCConfig, train_bc
from dexpie_learning.train.cli import main as train_main
from dexpie_policy.runner import PolicyRunner
from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.stages import StageLibrary

TINY = dict(steps=30, batch_size=32, hidden_size=64, num_layers=2, horizon=8)


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demos")
    task = make_task("relocate")
    library = StageLibrary(task, make_operator("relocate", task, seed=0))
    operator = make_operator("relocate", task, seed=1)
    for seed in (0, 1):
        record_operator_demo(library, operator, seed, folder)
    return folder


@pytest.fixture(scope="module")
def checkpoint(demos, tmp_path_factory):
    out = tmp_path_factory.mktemp("policy")
    result = train_bc([demos], out, BCConfig(**TINY), progress=False)
    assert result.episodes == 2 and result.samples > 100
    return out


def test_bc_writes_a_loadable_checkpoint_with_logs(checkpoint):
    for name in ("model.safetensors", "config.json", "normalization.json", "action_spec.json",
                 "losses.csv", "loss.png", "training.json"):
        assert (checkpoint / name).is_file(), name
    summary = json.loads((checkpoint / "training.json").read_text())
    assert summary["kind"] == "bc" and summary["task"] == "relocate" and summary["config"]["steps"] == 30
    runner = PolicyRunner.from_pretrained(checkpoint)
    assert runner.horizon == 8 and not runner.config.optimality_conditioning
    task = make_task("relocate")
    obs = task.reset(5)
    chunk = runner.predict_chunk(obs.joint_positions, object_state=obs.object_state)
    assert chunk.shape == (8, 30) and np.all(np.isfinite(chunk))


def test_bc_skips_a_broken_bag_and_reports_it(demos, tmp_path):
    folder = tmp_path / "demos"
    shutil.copytree(demos, folder)
    victim = next(p for p in folder.iterdir() if p.is_dir())
    mcap = next(victim.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[:1000])  # truncated
    result = train_bc([folder], tmp_path / "out", BCConfig(**{**TINY, "steps": 2}), progress=False)
    assert result.episodes == 1 and len(result.skipped_bags) == 1 and victim.name in result.skipped_bags[0]


def test_train_cli_names_bad_values_and_missing_folders(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main(["bc", "--demos", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2 and "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["bc", "--demos", str(tmp_path), "--out", str(tmp_path / "o"), "--steps", "0"])
    assert "steps must be a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["bc", "--demos", str(tmp_path), "--out", str(tmp_path / "o"),
                    "--arm-representation", "polar"])
    assert "'polar'" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_evaluation_runs_seeded_episodes_and_reports(checkpoint, mode):
    runner = PolicyRunner.from_pretrained(checkpoint)
    task = make_task("relocate")
    config = EvalConfig(episodes=2, mode=mode, latency_ticks=2)
    report = evaluate_policy(runner, task, config, progress=False)
    assert report.episodes == 2 and [r.seed for r in report.results] == [100_000, 100_001]
    assert 0 <= report.success_rate <= 1 and report.ci95[0] <= report.success_rate <= report.ci95[1]
    for result in report.results:
        assert 0 < result.steps <= task.spec.max_episode_steps
        assert result.hold_ticks >= 2  # nothing to execute before the first chunk arrives
    again = evaluate_policy(runner, task, config, progress=False)
    assert [r.steps for r in again.results] == [r.steps for r in report.results]  # seeded


def test_sync_mode_holds_during_every_inference(checkpoint):
    runner = PolicyRunner.from_pretrained(checkpoint)
    task = make_task("relocate")
    async_report = evaluate_policy(runner, task, EvalConfig(episodes=1, mode="async", latency_ticks=3), progress=False)
    sync_report = evaluate_policy(runner, task, EvalConfig(episodes=1, mode="sync", latency_ticks=3), progress=False)
    assert sync_report.mean_hold_fraction > async_report.mean_hold_fraction


def test_wilson_interval():
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    lo, hi = wilson_interval(13, 20)
    assert lo == pytest.approx(0.433, abs=1e-3) and hi == pytest.approx(0.819, abs=1e-3)


def test_eval_config_validation():
    with pytest.raises(ValueError, match="mode"):
        EvalConfig(mode="fast")
    with pytest.raises(ValueError, match="episodes"):
        EvalConfig(episodes=0)


def test_an_episode_whose_physics_diverged_is_flagged_and_counted(checkpoint):
    runner = PolicyRunner.from_pretrained(checkpoint)
    task = make_task("relocate")
    plain_step = task.step

    def step_that_blows_up(target):
        if task.tick == 3:
            task.data.qfrc_applied[:] = 1e30   # a huge acceleration: MuJoCo warns, resets
        return plain_step(target)
    task.step = step_that_blows_up
    report = evaluate_policy(runner, task, EvalConfig(episodes=1), progress=False)
    assert report.diverged_episodes == 1 and report.results[0].diverged
    assert not report.results[0].success and report.results[0].steps == 4
    assert report.to_dict()["diverged_episodes"] == 1
