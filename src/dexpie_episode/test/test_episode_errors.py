"""Broken bags get an EpisodeFormatError naming the bag; the rest of the folder still loads."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from episode_helpers import custom_data_of, make_meta, rewrite_bag, write_random_episode

import dexpie_episode as ep


@pytest.fixture(scope="module")
def good_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_episode(tmp_path_factory.mktemp("good"), "good", num_ticks=24)["path"]


def _expect_error(path: Path, *fragments: str) -> ep.EpisodeFormatError:
    with pytest.raises(ep.EpisodeFormatError) as info:
        ep.read_episode(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert info.value.path == path
    return info.value


def test_missing_required_topic(good_bag: Path, tmp_path: Path) -> None:
    bad = tmp_path / "no_intervention"
    rewrite_bag(
        good_bag,
        bad,
        custom_data=custom_data_of(good_bag),
        drop_topics=(ep.TOPIC_INTERVENTION_STATE,),
    )
    _expect_error(bad, "missing required topic", ep.TOPIC_INTERVENTION_STATE)


def test_truncated_file(good_bag: Path, tmp_path: Path) -> None:
    bad = tmp_path / "good"
    shutil.copytree(good_bag, bad)
    mcap = bad / "good.mcap"
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])
    _expect_error(bad, "cannot read bag")


def test_garbage_file(good_bag: Path, tmp_path: Path) -> None:
    bad = tmp_path / "good"
    shutil.copytree(good_bag, bad)
    mcap = bad / "good.mcap"
    data = bytearray(mcap.read_bytes())
    data[100:-100] = (
        np.random.default_rng(1).integers(0, 256, len(data) - 200, dtype=np.uint8).tobytes()
    )
    mcap.write_bytes(bytes(data))
    _expect_error(bad)


def test_joint_names_in_messages_differ_from_metadata(good_bag: Path, tmp_path: Path) -> None:
    bad = tmp_path / "renamed"
    custom = custom_data_of(good_bag)
    names = json.loads(custom["dexpie.joint_names"])
    custom["dexpie.joint_names"] = json.dumps(names[::-1])
    rewrite_bag(good_bag, bad, custom_data=custom)
    _expect_error(bad, "joint names on /joint_states", "differ from the metadata")


def test_missing_metadata(good_bag: Path, tmp_path: Path) -> None:
    bad = tmp_path / "no_meta"
    rewrite_bag(good_bag, bad)  # no custom_data at all
    _expect_error(bad, "missing episode metadata")
    partial_meta = tmp_path / "partial_meta"
    custom = custom_data_of(good_bag)
    del custom["dexpie.control_dt"]
    rewrite_bag(good_bag, partial_meta, custom_data=custom)
    _expect_error(partial_meta, "dexpie.control_dt")


def test_missing_metadata_yaml(good_bag: Path, tmp_path: Path) -> None:
    bad = tmp_path / "good"
    shutil.copytree(good_bag, bad)
    (bad / "metadata.yaml").unlink()
    _expect_error(bad, "missing metadata.yaml")


def test_tick_without_observation(good_bag: Path, tmp_path: Path) -> None:
    bad = tmp_path / "dropped_joint_state"
    rewrite_bag(
        good_bag,
        bad,
        keep=lambda topic, index, message: not (topic == ep.TOPIC_JOINT_STATES and index == 5),
        custom_data=custom_data_of(good_bag),
    )
    _expect_error(bad, "1 of 24 ticks have no /joint_states", "tick 5")


def test_late_policy_command_is_nan_not_error(good_bag: Path, tmp_path: Path) -> None:
    shifted = tmp_path / "late_policy"

    def delay_policy(topic: str, message: object) -> object:
        if topic == ep.TOPIC_POLICY_COMMAND:
            message.header.stamp.nanosec += 1  # type: ignore[attr-defined]  # now after its tick
        return message

    rewrite_bag(good_bag, shifted, edit=delay_policy, custom_data=custom_data_of(good_bag))
    episode = ep.read_episode(shifted)
    reference = ep.read_episode(good_bag)
    # Each proposal now lands 1 ns after its tick, so a tick sees the previous tick's one,
    # which is 33 ms old: older than half a control period, hence NaN everywhere.
    assert np.isnan(episode.policy_command).all()
    np.testing.assert_array_equal(episode.joint_positions, reference.joint_positions)


def test_load_episodes_collects_errors_and_loads_the_rest(
    good_bag: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "episodes"
    write_random_episode(folder, "a_good", num_ticks=10, seed=1)
    write_random_episode(folder, "z_good", num_ticks=12, seed=2)
    rewrite_bag(good_bag, folder / "m_no_meta")
    truncated = folder / "t_truncated"
    shutil.copytree(good_bag, truncated)
    (truncated / "good.mcap").write_bytes((truncated / "good.mcap").read_bytes()[:300])
    (folder / "notes.txt").write_text("plain files are ignored")
    with caplog.at_level(logging.WARNING):
        episodes, errors = ep.load_episodes(folder)
    assert [e.episode_id for e in episodes] == ["a_good", "z_good"]
    assert [e.num_ticks for e in episodes] == [10, 12]
    assert sorted(error.path.name for error in errors) == ["m_no_meta", "t_truncated"]
    assert "m_no_meta" in caplog.text and "t_truncated" in caplog.text


def test_context_manager_exception_leaves_incomplete_episode(tmp_path: Path) -> None:
    meta = make_meta(cameras=(), object_names=())
    with pytest.raises(RuntimeError, match="simulated failure"):
        with ep.EpisodeWriter(tmp_path, meta, episode_id="crashes") as writer:
            writer.write_tick(1000, np.zeros(5), np.zeros(5), np.zeros(5))
            raise RuntimeError("simulated failure")
    assert not (tmp_path / "crashes").exists()
    assert (tmp_path / "crashes.incomplete").is_dir()
    episodes, errors = ep.load_episodes(tmp_path)
    assert episodes == []
    assert len(errors) == 1 and isinstance(errors[0], ep.IncompleteEpisodeError)
    assert "crashes.incomplete" in str(errors[0])


def test_leaving_context_without_close_is_incomplete(tmp_path: Path) -> None:
    meta = make_meta(cameras=(), object_names=())
    with ep.EpisodeWriter(tmp_path, meta, episode_id="forgotten") as writer:
        writer.write_tick(1000, np.zeros(5), np.zeros(5), np.zeros(5))
    assert ep.episode_dir_state(tmp_path / "forgotten.incomplete") is ep.EpisodeDirState.INCOMPLETE
    assert not (tmp_path / "forgotten").exists()


def test_open_writer_is_reported_as_being_written(tmp_path: Path) -> None:
    meta = make_meta(cameras=(), object_names=())
    writer = ep.EpisodeWriter(tmp_path, meta, episode_id="live")
    writer.write_tick(1000, np.zeros(5), np.zeros(5), np.zeros(5))
    episodes, errors = ep.load_episodes(tmp_path)
    assert episodes == [] and "still being written" in str(errors[0])
    assert ep.recover_partial_episodes(tmp_path) == []  # a live writer is left alone
    with pytest.raises(RuntimeError, match="live process"):
        ep.mark_incomplete(tmp_path / "live.partial")
    path = writer.close(ep.OUTCOME_SUCCESS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live"]
    assert ep.read_episode(path).num_ticks == 1


def test_garbled_metadata_yaml(good_bag: Path, tmp_path: Path) -> None:
    bad = tmp_path / "good"
    shutil.copytree(good_bag, bad)
    (bad / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed\n  - : :")
    _expect_error(bad, "metadata.yaml is not valid YAML")
    (bad / "metadata.yaml").write_text("just a string")
    _expect_error(bad, "no rosbag2_bagfile_information")


def _poison(topic: str, index: int, column: int, value: float):
    """An `edit` for rewrite_bag: message `index` of `topic` gets `value` in `column`."""
    seen = {"count": -1}

    def edit(edited_topic: str, message: object) -> object:
        if edited_topic == topic:
            seen["count"] += 1
            if seen["count"] == index:
                position = np.array(message.position, dtype=np.float64)  # type: ignore[attr-defined]
                position[column] = value
                message.position = position  # type: ignore[attr-defined]
        return message

    return edit


@pytest.mark.parametrize(
    "topic, index, column, value, fragments",
    [
        (ep.TOPIC_JOINT_STATES, 7, 2, float("nan"), ("/joint_states position holds nan at tick 7 ('ff_j1')",)),
        (ep.TOPIC_HAND_COMMAND, 3, 0, float("inf"), ("/hand/command position holds inf at tick 3 ('wrist_x')",)),
        (ep.TOPIC_OBJECT_STATE, 20, 1, float("-inf"), ("/object/state position holds -inf at tick 20 ('object_y')",)),
        # The policy proposed on ticks 0-9 and 20-23 (human ticks have none): a recorded NaN.
        (ep.TOPIC_POLICY_COMMAND, 12, 4, float("nan"), ("/policy/command position holds nan at tick 22 ('th_j1')",)),
    ],
)
def test_a_non_finite_value_is_an_error_naming_the_bag_topic_and_tick(
    good_bag: Path, tmp_path: Path, topic, index, column, value, fragments
) -> None:
    bad = tmp_path / "poisoned"
    rewrite_bag(good_bag, bad, edit=_poison(topic, index, column, value),
                custom_data=custom_data_of(good_bag))
    _expect_error(bad, *fragments, "1 tick(s) hold non-finite values")


def test_a_non_finite_action_chunk_is_an_error(good_bag: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad_chunk"

    def edit(topic: str, message: object) -> object:
        if topic == ep.TOPIC_ACTION_CHUNK and message.chunk_id == 1:  # type: ignore[attr-defined]
            targets = np.array(message.targets, dtype=np.float64)  # type: ignore[attr-defined]
            targets[5] = np.nan
            message.targets = targets  # type: ignore[attr-defined]
        return message

    rewrite_bag(good_bag, bad, edit=edit, custom_data=custom_data_of(good_bag))
    _expect_error(bad, "/policy/action_chunk chunk 1 (tick 8) holds non-finite targets")


def test_metadata_num_ticks_must_be_the_recorded_ticks(good_bag: Path, tmp_path: Path) -> None:
    custom = custom_data_of(good_bag)
    assert custom["dexpie.num_ticks"] == "24"
    longer = tmp_path / "longer"
    rewrite_bag(good_bag, longer, custom_data={**custom, "dexpie.num_ticks": "30"})
    _expect_error(longer, "metadata dexpie.num_ticks is 30, but 24 control ticks "
                          "(/hand/command messages) are recorded")
    dropped = tmp_path / "dropped_last_tick"   # the metadata says 24, the bag lost one
    rewrite_bag(good_bag, dropped,
                keep=lambda topic, index, message: not (topic == ep.TOPIC_HAND_COMMAND and index == 23),
                custom_data=custom)
    _expect_error(dropped, "metadata dexpie.num_ticks is 24, but 23 control ticks")
    garbled = tmp_path / "garbled"
    rewrite_bag(good_bag, garbled, custom_data={**custom, "dexpie.num_ticks": "many"})
    _expect_error(garbled, "metadata dexpie.num_ticks is not an integer: 'many'")
    unsaid = tmp_path / "unsaid"   # bags from other tools may not say: read as they are
    rewrite_bag(good_bag, unsaid, custom_data={k: v for k, v in custom.items() if k != "dexpie.num_ticks"})
    assert ep.read_episode(unsaid).num_ticks == 24


def test_a_poisoned_bag_is_skipped_and_the_rest_of_the_folder_loads(good_bag: Path, tmp_path: Path) -> None:
    folder = tmp_path / "episodes"
    write_random_episode(folder, "a_good", num_ticks=10, seed=1)
    rewrite_bag(good_bag, folder / "m_nan", edit=_poison(ep.TOPIC_JOINT_STATES, 2, 0, float("nan")),
                custom_data=custom_data_of(good_bag))
    episodes, errors = ep.load_episodes(folder)
    assert [e.episode_id for e in episodes] == ["a_good"]
    assert [e.path.name for e in errors] == ["m_nan"] and "tick 2" in str(errors[0])
