"""BC from demonstration bags end to end (tiny sizes), the train CLI's error handling, and
the evaluation harness."""
import json
import shutil

import numpy as np
import pytest

from dexpie_experiment import evaluation
from dexpie_experiment.evaluate_cli import main as evaluate_main
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


def test_train_cli_refuses_an_unusable_out_before_reading_any_bag(demos, tmp_path, capsys, monkeypatch):
    import dexpie_learning.train.methods as methods
    monkeypatch.setattr(methods, "load_training_data", no_episode)
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    for out in (taken, taken / "bc"):
        with pytest.raises(SystemExit) as exit_info:
            train_main(["bc", "--demos", str(demos), "--out", str(out)])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1
        assert err.startswith(f"train bc: error: --out '{out}': ")
    with pytest.raises(SystemExit):
        train_main(["label", "--demos", str(demos), "--critic", str(tmp_path), "--labels", str(taken)])
    assert f"train label: error: --labels '{taken}': exists and is not a folder" in capsys.readouterr().err


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
    with pytest.raises(ValueError, match=r"cfg_scale must be in \[0, 100\], got nan"):
        EvalConfig(cfg_scale=float("nan"))
    with pytest.raises(ValueError, match="optimality must be in"):
        EvalConfig(optimality=float("inf"))


def no_episode(*args, **kwargs):
    raise AssertionError("an episode ran")


def test_evaluate_refuses_a_checkpoint_for_another_task_before_any_episode(checkpoint, capsys,
                                                                           monkeypatch):
    monkeypatch.setattr(evaluation, "run_policy_episode", no_episode)
    # A relocate policy on the door: the same joints, 15 object features against 13.
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main(["--checkpoint", str(checkpoint), "--task", "door", "--episodes", "1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "does not fit task 'door': it was trained on 15 object-state features, the task has 13" in err
    with pytest.raises(SystemExit):   # other joints (the hammer's hand has 29), named
        evaluate_main(["--checkpoint", str(checkpoint), "--task", "hammer", "--episodes", "1"])
    assert "does not fit task 'hammer': the task's joints" in capsys.readouterr().err


def test_evaluate_stops_with_an_inference_error_instead_of_reporting(checkpoint, capsys, monkeypatch,
                                                                   tmp_path):
    def broken(self, *args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (1x43 and 45x64)")
    monkeypatch.setattr(PolicyRunner, "predict_chunk", broken)
    report = tmp_path / "report.json"
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main(["--checkpoint", str(checkpoint), "--task", "relocate", "--episodes", "1",
                       "--json", str(report)])
    captured = capsys.readouterr()
    assert exit_info.value.code == 2 and "hold" not in captured.out   # no report row
    assert "dexpie-evaluate: error: inference failed for chunk 0 requested at tick 0: RuntimeError: " \
           "mat1 and mat2 shapes" in captured.err
    assert not report.exists()


@pytest.mark.parametrize("args, message", [
    (["--cfg-scale", "nan"], "cfg_scale must be in [0, 100], got nan"),
    (["--json", "{tmp}/taken/report.json"], "--json '{tmp}/taken/report.json': "),
    (["--json", "{tmp}"], "is a folder, not a file")])
def test_evaluate_refuses_bad_settings_before_loading_anything(args, message, capsys, tmp_path,
                                                               monkeypatch):
    monkeypatch.setattr(evaluation, "run_policy_episode", no_episode)
    (tmp_path / "taken").write_text("a file where the report's folder should be")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    with pytest.raises(SystemExit) as exit_info:   # the checkpoint does not even exist
        evaluate_main(["--checkpoint", str(tmp_path / "nope"), "--task", "relocate", *args])
    assert exit_info.value.code == 2 and message.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err


def test_evaluate_writes_the_report_into_a_new_folder(checkpoint, tmp_path, capsys):
    report = tmp_path / "new" / "report.json"
    assert evaluate_main(["--checkpoint", str(checkpoint), "--task", "relocate", "--episodes", "1",
                          "--json", str(report)]) == 0
    assert json.loads(report.read_text())[0]["episodes"] == 1


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
