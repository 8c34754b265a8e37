"""The writer refuses bad input with an error that names the problem, writing nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from episode_helpers import START_NS, make_meta

import dexpie_episode as ep

J = 5
GOOD = dict(
    joint_positions=np.zeros(J),
    joint_velocities=np.zeros(J),
    command=np.zeros(J),
    object_state=np.zeros(3),
    images={"front": np.zeros((4, 6, 3), dtype=np.uint8)},
)


@pytest.fixture
def writer(tmp_path: Path) -> ep.EpisodeWriter:
    writer = ep.EpisodeWriter(tmp_path, make_meta(), episode_id="validated")
    yield writer
    if not writer.closed:
        writer.abort("test finished")


def _tick(writer: ep.EpisodeWriter, stamp: int = START_NS, **changes: object) -> None:
    fields = {**GOOD, **changes}
    writer.write_tick(stamp, **fields)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(joint_positions=np.zeros(4)), r"joint_positions has shape \(4,\), expected \(5,\)"),
        (dict(joint_velocities=np.zeros((5, 1))), "joint_velocities has shape"),
        (dict(command=[0, 0, np.nan, 0, 0]), r"command contains NaN/Inf at \['ff_j1'\]"),
        (
            dict(joint_positions=[np.inf, 0, 0, 0, 0]),
            r"joint_positions contains NaN/Inf at \['wrist_x'\]",
        ),
        (dict(policy_command=[0, 0, 0, 0, np.nan]), "policy_command contains NaN/Inf"),
        (dict(object_state=np.zeros(2)), "object_state has shape"),
        (dict(object_state=None), "object_state is required"),
        (
            dict(images={"front": GOOD["images"]["front"], "wrist": GOOD["images"]["front"]}),
            r"unknown camera\(s\) \['wrist'\]",
        ),
        (dict(images={}), "images missing for configured camera"),
        (dict(images={"front": np.zeros((4, 6, 3), dtype=np.float32)}), "must be uint8 HxWx3"),
        (dict(images={"front": np.zeros((4, 6), dtype=np.uint8)}), "must be uint8 HxWx3"),
        (dict(source=7), "source=7 is not one of"),
        (dict(edge=-1), "edge=-1 is not one of"),
        (dict(intervention_id=-1), "intervention_id=-1"),
    ],
)
def test_bad_tick_is_refused(writer: ep.EpisodeWriter, changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _tick(writer, **changes)
    assert writer.num_ticks == 0


def test_refused_tick_writes_nothing(writer: ep.EpisodeWriter) -> None:
    _tick(writer, START_NS)
    with pytest.raises(ValueError):
        _tick(writer, START_NS + 10, command=[np.nan] * J)
    _tick(writer, START_NS + 20)
    episode = ep.read_episode(writer.close(ep.OUTCOME_SUCCESS))
    np.testing.assert_array_equal(episode.stamp_ns, [START_NS, START_NS + 20])


def test_stamps_must_increase(writer: ep.EpisodeWriter) -> None:
    _tick(writer, START_NS)
    with pytest.raises(ValueError, match="not after the previous tick"):
        _tick(writer, START_NS)


def test_image_size_must_not_change(writer: ep.EpisodeWriter) -> None:
    _tick(writer, START_NS)
    with pytest.raises(ValueError, match="changed size"):
        _tick(writer, START_NS + 1, images={"front": np.zeros((5, 6, 3), dtype=np.uint8)})


def test_chunk_validation(writer: ep.EpisodeWriter) -> None:
    with pytest.raises(ValueError, match="chunk anchor has shape"):
        writer.write_chunk(START_NS, 0, START_NS, np.zeros(4), np.zeros((3, 2)), np.zeros((3, J)))
    with pytest.raises(ValueError, match="chunk targets has 4 columns"):
        writer.write_chunk(START_NS, 0, START_NS, np.zeros(J), np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="both must have horizon rows"):
        writer.write_chunk(START_NS, 0, START_NS, np.zeros(J), np.zeros((2, 2)), np.zeros((3, J)))
    with pytest.raises(ValueError, match="chunk actions contains NaN"):
        writer.write_chunk(
            START_NS, 0, START_NS, np.zeros(J), np.full((3, 2), np.nan), np.zeros((3, J))
        )


def test_close_validation(tmp_path: Path, writer: ep.EpisodeWriter) -> None:
    _tick(writer)
    with pytest.raises(ValueError, match="outcome=0 is not one of"):
        writer.close(ep.OUTCOME_UNKNOWN)
    writer.close(ep.OUTCOME_SUCCESS)
    with pytest.raises(RuntimeError, match="already closed"):
        _tick(writer, START_NS + 1)
    with pytest.raises(FileExistsError, match="already exists"):
        ep.EpisodeWriter(tmp_path, make_meta(), episode_id="validated")


def test_close_without_ticks_is_incomplete(tmp_path: Path) -> None:
    writer = ep.EpisodeWriter(tmp_path, make_meta(), episode_id="empty")
    with pytest.raises(ValueError, match="no control ticks"):
        writer.close(ep.OUTCOME_SUCCESS)
    assert (tmp_path / "empty.incomplete").is_dir() and not (tmp_path / "empty").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(joint_names=()), "joint_names must not be empty"),
        (dict(joint_names=("a", "a")), "joint_names has duplicates"),
        (dict(control_dt=0.0), "control_dt must be > 0"),
        (dict(task=""), "task must not be empty"),
        (dict(cameras=("left/right",)), "must not contain '/'"),
    ],
)
def test_bad_meta_is_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_meta(**changes)


@pytest.mark.parametrize("episode_id", ["", "a/b", "x.partial", ".hidden", "with space"])
def test_bad_episode_id_is_refused(tmp_path: Path, episode_id: str) -> None:
    with pytest.raises(ValueError, match="episode_id"):
        ep.EpisodeWriter(tmp_path, make_meta(), episode_id=episode_id or "bad id")
