"""benchmarks/critic_generalization.py: held-out vs in-sample critic values per group."""
import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dexpie_learning.critic.data import CriticEpisode

_SPEC = importlib.util.spec_from_file_location(
    "critic_generalization", Path(__file__).resolve().parents[1] / "critic_generalization.py")
generalization = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(generalization)


def _episode(name, success, target):
    target = np.asarray(target, dtype=float)
    return CriticEpisode(name, "init", success, np.zeros((len(target), 2)), target,
                         np.zeros(len(target), bool))


def test_a_memorising_critic_ranks_in_sample_and_not_held_out():
    episodes = [_episode("d0", True, [-0.4, -0.2]), _episode("d1", False, [-0.9, -1.0]),
                _episode("r0", True, [-0.3, 0.0]), _episode("r1", False, [-1.0, -0.9])]
    in_sample = {e.episode_id: e.return_target.copy() for e in episodes}   # a perfect fit
    held_out = {"d0": np.array([-0.9, -0.9]), "d1": np.array([-0.5, -0.5]),   # inverted
                "r0": np.array([-0.8, -0.8]), "r1": np.array([-0.4, -0.4])}
    summary = generalization.summarise(episodes, [True, True, False, False], held_out, in_sample)
    assert summary["in_sample"]["ranking"] == 1.0 and summary["held_out"]["ranking"] == 0.0
    assert summary["in_sample"]["correlation"] == pytest.approx(1.0)
    assert (summary["episodes"], summary["successes"]) == (4, 2)
    demo_success = summary["groups"]["demo success"]
    assert demo_success["episodes"] == 1
    assert demo_success["held_out_value"] == pytest.approx(-0.9)
    assert demo_success["target"] == pytest.approx(-0.3)
    assert set(summary["groups"]) == {"demo success", "demo failure", "rollout success",
                                      "rollout failure"}


def test_retrain_settings_are_parsed_and_bad_ones_named():
    assert generalization.retrain_setting("300:64") == (300, 64, 0.0)
    assert generalization.retrain_setting("1000:256:1.5") == (1000, 256, 1.5)
    for bad in ("300", "a:b", "0:64", "300:64:-1", "300:64:nan", "1:2:3:4"):
        with pytest.raises(argparse.ArgumentTypeError, match=repr(bad)):
            generalization.retrain_setting(bad)
