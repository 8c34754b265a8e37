"""A bag with a non-finite value is skipped (named: bag, topic, tick) and the rest of the
folder trains; a folder with nothing readable is named."""
from __future__ import annotations

import numpy as np
import pytest

import dexpie_episode.writer as episode_writer
from dexpie_episode import OUTCOME_SUCCESS
from dexpie_learning.datasets import DatasetError
from dexpie_learning.train.cli import main as train_main
from dexpie_learning.train.data import load_training_data
from test_any_hand import write_episode


def write_poisoned_episode(folder, monkeypatch, seed: int = 99):
    """A bag whose /joint_states carry one NaN, as a recorder that does not check writes it
    (the EpisodeWriter refuses NaN, so its check is lifted while this bag is written)."""
    real = episode_writer.finite_vector

    def unchecked(name, value, names):
        array = np.array(value, dtype=np.float64)
        return array if name == "joint_positions" else real(name, value, names)

    monkeypatch.setattr(episode_writer, "finite_vector", unchecked)
    original = episode_writer.EpisodeWriter.write_tick
    ticks = {"n": 0}

    def write_tick(self, stamp_ns, positions, *args, **kwargs):
        positions = np.array(positions, dtype=np.float64)
        if ticks["n"] == 5:
            positions[3] = np.nan
        ticks["n"] += 1
        return original(self, stamp_ns, positions, *args, **kwargs)

    monkeypatch.setattr(episode_writer.EpisodeWriter, "write_tick", write_tick)
    try:
        return write_episode(folder, seed, OUTCOME_SUCCESS, human=(0, 40))
    finally:
        monkeypatch.undo()


def test_a_bag_with_a_nan_is_skipped_by_name_and_the_others_train(tmp_path, monkeypatch, capsys):
    demos = tmp_path / "demos"
    for seed in range(3):
        write_episode(demos, seed, OUTCOME_SUCCESS, human=(0, 40))
    bad = write_poisoned_episode(demos, monkeypatch)
    data = load_training_data([demos], progress=False)
    assert len(data.episodes) == 3 and [e.path for e in data.skipped] == [bad]
    assert "/joint_states position holds nan at tick 5 ('arm_3')" in str(data.skipped[0])
    assert train_main(["bc", "--demos", str(demos), "--out", str(tmp_path / "bc"), "--quiet",
                       "--steps", "2", "--batch-size", "8", "--hidden-size", "16",
                       "--num-layers", "1", "--horizon", "8", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "trained bc on 3 episodes" in out
    assert f"skipped 1 unreadable bags: {bad}: /joint_states position holds nan at tick 5" in out


def test_no_readable_episodes_names_the_folders_and_why(tmp_path, monkeypatch):
    only_bad, empty = tmp_path / "only_bad", tmp_path / "empty"
    bad = write_poisoned_episode(only_bad, monkeypatch)
    empty.mkdir()
    with pytest.raises(DatasetError) as error:
        load_training_data([only_bad], [empty], progress=False)
    message = str(error.value)
    assert message.startswith(f"no readable episodes in {only_bad}, {empty}: 1 bag(s) could not be read: ")
    assert f"{bad}: /joint_states position holds nan at tick 5" in message
    with pytest.raises(DatasetError, match=f"no readable episodes in {empty}: the folders hold no episode bags"):
        load_training_data([empty], progress=False)
