"""benchmarks/labels_by_operator.py: labels summarised per operator tier and outcome."""
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dexpie_learning.critic.returns import ReturnConfig
from dexpie_learning.labels.labelling import label_dataset

_SPEC = importlib.util.spec_from_file_location(
    "labels_by_operator", Path(__file__).resolve().parents[1] / "labels_by_operator.py")
by_operator = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(by_operator)


def _episode(name, note, success, intervention):
    return SimpleNamespace(episode_id=name, meta=SimpleNamespace(note=note), success=success,
                           num_ticks=len(intervention), intervention=np.asarray(intervention, bool))


def test_demos_grouped_by_tier_and_rollout_ticks_by_outcome():
    episodes = [_episode("d0", "operator demonstration, operator better #10", True, [1] * 10),
                _episode("d1", "operator demonstration, operator worse #30", False, [1] * 12),
                _episode("d2", "operator demonstration, operator better #11", False, [1] * 8),
                _episode("r0", "", True, [0] * 6 + [1] * 4),
                _episode("r1", "", False, [0] * 10)]
    is_demo = [True, True, True, False, False]
    values = {e.episode_id: np.linspace(-0.2, -0.6, e.num_ticks) for e in episodes}
    labels = label_dataset(values, {e.episode_id: e.intervention for e in episodes}, 4,
                           ReturnConfig(50), human_override="successful",
                           successes={e.episode_id: e.success for e in episodes})
    summary = by_operator.summarise(episodes, is_demo, labels)
    better, worse = summary["demos"]["better"], summary["demos"]["worse"]
    assert (better["episodes"], better["successes"], better["mean_length"]) == (2, 1, 9.0)
    assert (worse["episodes"], worse["successes"]) == (1, 0)
    # d0 succeeded: forced to 1; d2 failed: the critic's scores, below 1
    assert better["mean_optimality"] == pytest.approx(
        (10 * 1.0 + labels.episodes["d2"].optimality.sum()) / 18)
    assert worse["mean_optimality"] < 1.0
    assert summary["rollouts"]["success"]["human_ticks"] == 4
    assert summary["rollouts"]["success"]["policy_ticks"] == 6
    assert summary["rollouts"]["failure"]["human_ticks"] == 0
    assert summary["rollouts"]["failure"]["human_mean_optimality"] is None
    assert summary["human_override"] == "successful"
    text = "\n".join(by_operator.lines_for("door", summary))
    assert "human windows forced to s = 1: successful" in text and "worse" in text
