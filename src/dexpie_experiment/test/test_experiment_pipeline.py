"""cell_cache + experiment_pipeline: the cell lock that lets several processes share one work folder,
and config validation. (The pipeline end to end: benchmarks/test/test_method_comparison.py.)"""
import subprocess
import sys
import threading
import time

import pytest

from dexpie_experiment.cell_cache import cell_lock
from dexpie_experiment.pipeline import PipelineConfig


def test_lock_waits_for_a_live_holder(tmp_path):
    cell = tmp_path / "cell"
    acquired = threading.Event()

    def second():
        with cell_lock(cell, poll_seconds=0.01):
            acquired.set()
    with cell_lock(cell):
        assert (tmp_path / "cell.lock").exists()
        worker = threading.Thread(target=second)
        worker.start()
        time.sleep(0.1)
        assert not acquired.is_set()
    worker.join(timeout=5)
    assert acquired.is_set() and not (tmp_path / "cell.lock").exists()


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "cell.lock").write_text(str(dead.pid))
    start = time.perf_counter()
    with cell_lock(tmp_path / "cell", poll_seconds=5.0):
        pass
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("field, value, match", [
    ("rollouts", 0, "rollouts must be a positive integer"),
    ("methods", ("policy", "dagger"), "unknown methods"),
    ("stage_mix", 1.5, "stage_mix"),
    ("first_rollout_seed", 5, "must not overlap"),
    ("rollout_mode", "slow", "rollout_mode must be one of"),
    ("eval_mode", "slow", "eval_mode must be one of"),
    ("arm_representation", "euler", "arm_representation must be one of"),
    ("train_seed", -1, "train_seed"),
    ("operator_population", "novices", "operator_population must be one of"),
    ("train_epochs", -1, "train_epochs must be 0"),
    ("demonstrations", "best", "demonstrations must be one of"),
    ("critic_observation_noise", float("nan"), "critic_observation_noise must be a finite"),
])
def test_config_rejects_bad_values(field, value, match):
    with pytest.raises(ValueError, match=match):
        PipelineConfig(**{field: value})


def test_every_method_gets_the_same_budget():
    """Steps, or with train_epochs the same number of passes, and the same demonstrations,
    for every method."""
    from dexpie_learning.train.methods import METHODS
    for config in (PipelineConfig(train_steps=1234),
                   PipelineConfig(train_epochs=300, demonstrations="successful")):
        budgets = {(c.steps, c.epochs, c.demonstrations)
                   for c in map(config.train_config, ("bc", *METHODS))}
        assert budgets == {(config.train_steps, config.train_epochs, config.demonstrations)}


def test_work_folder_of_an_older_version_is_read_with_defaults(tmp_path):
    """A pipeline.json written before a field existed holds that field's default."""
    import dataclasses
    import json

    from dexpie_experiment.pipeline import ComparisonPipeline
    old = dataclasses.asdict(PipelineConfig())
    del old["rollout_mode"], old["arm_representation"]
    (tmp_path / "pipeline.json").write_text(json.dumps(old))
    ComparisonPipeline(PipelineConfig(), tmp_path, progress=False)
    with pytest.raises(ValueError, match="rollout_mode='async' \\(now 'sync'\\)"):
        ComparisonPipeline(PipelineConfig(rollout_mode="sync"), tmp_path, progress=False)
