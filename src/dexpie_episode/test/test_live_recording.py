"""LiveRecorder (pure core of episode_recorder): live streams in, episodes that read back
exactly like the in-process ones out. No ROS here: messages are plain values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from episode_helpers import write_random_episode
from recorder_helpers import simulate_killed_recorder

import dexpie_episode as ep
from dexpie_episode.live_recording import (
    NOT_READY, RECORDING_NOTE, TICKS_LOST, LiveRecorder, RecorderConfig, RecorderNotReady,
    RecorderRequestError)
from dexpie_episode.live_ticks import InterventionSample

JOINTS = ("a", "b", "c")
OBJECTS = ("obj_x", "obj_z")
DT_NS = 33_333_333
T0 = 1_700_000_000_000_000_000


def stamp(tick: int) -> int:
    return T0 + tick * DT_NS


def q(tick: int) -> np.ndarray:
    return np.array([tick, tick + 0.5, -tick], dtype=float)


def make(tmp_path: Path, ready: bool = True, **overrides) -> tuple[LiveRecorder, list]:
    """A recorder; ready: it has already received one message of every recorded stream
    (stamped before every tick of the tests), as it has once the graph is up."""
    events = []
    fields = dict(joint_names=JOINTS, control_dt=DT_NS / 1e9, durable=False)
    fields.update(overrides)
    recorder = LiveRecorder(tmp_path, RecorderConfig(**fields), notify=events.append)
    if ready:
        config = recorder.config
        recorder.on_joint_state(stamp(-1), q(-1), q(-1), arrival_ns=0)
        recorder.on_command(stamp(-1), q(-1))
        if config.ticks_from_arbiter:
            recorder.on_intervention(InterventionSample(stamp(-1), 0), arrival_ns=0)
        for camera in config.cameras:
            recorder.on_image(camera, np.zeros((4, 5, 3), dtype=np.uint8))
        if config.record_object_state and config.object_names:
            recorder.on_object_state(config.object_names, np.zeros(len(config.object_names)))
        assert recorder.ready, recorder.missing_streams()
    return recorder, events


def arbiter_tick(recorder: LiveRecorder, tick: int, source: int, command_first: bool = True,
                 policy: bool = True, edge: int = 0, intervention_id: int = 0,
                 arbiter_count: int | None = None) -> str | None:
    """One tick as the graph delivers it: observation, proposal, arbiter command + state.
    Returns the recorder's problem with the tick, if any."""
    recorder.on_joint_state(stamp(tick), q(tick), -q(tick), arrival_ns=0)
    recorder.on_object_state(OBJECTS, np.array([tick, 2.0 * tick]))
    if policy:
        recorder.on_policy_command(stamp(tick), q(tick) + 0.1)
    sample = InterventionSample(stamp(tick), source, edge=edge, intervention_id=intervention_id,
                                tick=arbiter_count)
    if command_first:
        recorder.on_command(stamp(tick), q(tick) + 0.2)
        return recorder.on_intervention(sample, arrival_ns=0)
    # The command of the tick arrives after its /intervention/state.
    problem = recorder.on_intervention(sample, arrival_ns=0)
    recorder.on_command(stamp(tick), q(tick) + 0.2)
    return problem


def test_arbiter_ticks_read_back_like_in_process_episodes(tmp_path: Path) -> None:
    recorder, events = make(tmp_path)
    recorder.on_object_state(OBJECTS, np.zeros(2))
    started = recorder.start("relocate", "grasped", 42, note="live")
    assert recorder.recording and events[-1].event == ep.EVENT_START
    assert (events[-1].task, events[-1].stage, events[-1].seed) == ("relocate", "grasped", 42)
    sources = [0, 0, 1, 1, 1, 0, 0, 2]
    for tick, source in enumerate(sources):
        assert arbiter_tick(recorder, tick, source, command_first=tick % 2 == 0,
                            policy=source == 0, edge=int(tick in (2, 5)),
                            intervention_id=int(tick >= 2)) is None
        if tick == 3:
            recorder.on_stage("lifted")
    assert recorder.num_ticks == len(sources)
    ended = recorder.end(ep.OUTCOME_SUCCESS, note="done")
    assert ended.complete and ended.num_ticks == len(sources) and not recorder.recording
    assert ended.bag_path == started.bag_path == str(tmp_path / started.episode_id)
    assert events[-1].event == ep.EVENT_END and events[-1].outcome == ep.OUTCOME_SUCCESS

    episode = ep.read_episode(ended.bag_path)
    assert (episode.task, episode.stage, episode.seed) == ("relocate", "grasped", 42)
    assert episode.outcome == ep.OUTCOME_SUCCESS and episode.note == "live; done"
    assert episode.object_names == OBJECTS and episode.joint_names == JOINTS
    ticks = np.arange(len(sources))
    np.testing.assert_array_equal(episode.stamp_ns, stamp(ticks))
    np.testing.assert_array_equal(episode.joint_positions, [q(t) for t in ticks])
    np.testing.assert_array_equal(episode.joint_velocities, [-q(t) for t in ticks])
    # Whichever order the command arrived in, each tick holds its own command.
    np.testing.assert_array_equal(episode.command, [q(t) + 0.2 for t in ticks])
    np.testing.assert_array_equal(episode.object_state, [[t, 2.0 * t] for t in ticks])
    np.testing.assert_array_equal(episode.source, sources)
    np.testing.assert_array_equal(episode.intervention, np.array(sources) == ep.SOURCE_HUMAN)
    np.testing.assert_array_equal(episode.edge, [0, 0, 1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(episode.intervention_id, [0, 0, 1, 1, 1, 1, 1, 1])
    proposed = ~np.isnan(episode.policy_command).any(axis=1)
    np.testing.assert_array_equal(proposed, np.array(sources) == 0)
    np.testing.assert_array_equal(episode.policy_command[proposed], [q(t) + 0.1 for t in ticks[proposed]])
    assert episode.stages == [(3, "lifted")]


def test_arbiter_ticks_from_before_it_saw_the_start_are_not_recorded(tmp_path: Path) -> None:
    # On a loaded machine the arbiter's state of a tick published before it saw START can
    # reach the recorder after its START: it is the previous episode's (here a human
    # takeover), so the episode begins where the arbiter's count restarts.
    recorder, _ = make(tmp_path)
    for tick in range(3):
        assert arbiter_tick(recorder, tick, ep.SOURCE_HUMAN, arbiter_count=40 + tick) is None
    recorder.start("relocate", "init", 3)
    problem = arbiter_tick(recorder, 3, ep.SOURCE_HUMAN, arbiter_count=43)
    assert problem is not None and "before its START" in problem
    for count, tick in enumerate(range(4, 8)):
        assert arbiter_tick(recorder, tick, ep.SOURCE_POLICY, arbiter_count=count) is None
    ended = recorder.end(ep.OUTCOME_FAILURE)
    episode = ep.read_episode(ended.bag_path)
    assert episode.num_ticks == 4 and not episode.intervention.any()
    np.testing.assert_array_equal(episode.stamp_ns, stamp(np.arange(4, 8)))
    assert "before its START" in ended.message


def test_arbiter_count_that_restarts_above_zero_still_starts_the_episode(tmp_path: Path) -> None:
    # The arbiter's tick-0 state was lost: a count lower than the last one before START
    # still marks the arbiter's new episode.
    recorder, _ = make(tmp_path)
    assert arbiter_tick(recorder, 0, ep.SOURCE_POLICY, arbiter_count=40) is None
    recorder.start("relocate", "init", 3)
    for count, tick in enumerate(range(1, 4), start=1):
        assert arbiter_tick(recorder, tick, ep.SOURCE_POLICY, arbiter_count=count) is None
    assert ep.read_episode(recorder.end(ep.OUTCOME_FAILURE).bag_path).num_ticks == 3


def test_configured_object_names_must_have_arrived_before_an_episode_starts(
        tmp_path: Path) -> None:
    # A start that comes before the first /sim/object_state would lose the ticks before it:
    # the start is refused until the configured names have arrived.
    recorder, events = make(tmp_path, ready=False, object_names=tuple(reversed(OBJECTS)))
    recorder.on_joint_state(stamp(0), q(0), -q(0), arrival_ns=0)
    recorder.on_command(stamp(0), q(0))
    recorder.on_intervention(InterventionSample(stamp(0), 0), arrival_ns=0)
    with pytest.raises(RecorderNotReady, match=f"^{NOT_READY}: nothing received yet on /sim/object_state;"):
        recorder.start("relocate", "init", 1)
    recorder.on_object_state(("obj_x",), np.zeros(1))
    with pytest.raises(RecorderNotReady, match=r"/sim/object_state \(object state lacks \['obj_z'\]\)"):
        recorder.start("relocate", "init", 1)
    assert events == [] and not recorder.recording
    for tick in range(1, 4):
        arbiter_tick(recorder, tick, 0)      # the graph runs; no episode yet
    recorder.start("relocate", "init", 1)
    for tick in range(4, 7):
        assert arbiter_tick(recorder, tick, 0) is None
    episode = ep.read_episode(recorder.end(ep.OUTCOME_SUCCESS).bag_path)
    assert episode.object_names == tuple(reversed(OBJECTS)) and episode.num_ticks == 3
    np.testing.assert_array_equal(episode.object_state, [[2.0 * t, t] for t in range(4, 7)])


def test_start_is_refused_until_every_recorded_stream_has_arrived(tmp_path: Path) -> None:
    # A recorder just brought up: its /intervention/state and /joint_states subscriptions
    # have matched, /hand/command and the camera's not yet. Started now, the episode's first
    # ticks would have no command (and be lost): the start is refused, naming what is missing.
    recorder, events = make(tmp_path, ready=False, cameras=("front",), record_object_state=False)
    recorder.on_joint_state(stamp(0), q(0), -q(0), arrival_ns=0)
    recorder.on_intervention(InterventionSample(stamp(0), 0), arrival_ns=0)
    assert recorder.missing_streams() == ["/hand/command", "/camera/front/image_raw"]
    with pytest.raises(RecorderNotReady) as refused:
        recorder.start("relocate", "init", 1)
    assert str(refused.value).startswith(f"{NOT_READY}: nothing received yet on /hand/command, "
                                         f"/camera/front/image_raw;")
    assert isinstance(refused.value, RecorderRequestError)   # the node answers success=false
    assert events == [] and not recorder.recording and list(tmp_path.iterdir()) == []
    recorder.on_command(stamp(0), q(0))
    recorder.on_image("front", np.zeros((4, 5, 3), dtype=np.uint8))
    assert recorder.ready and recorder.missing_streams() == []
    recorder.start("relocate", "init", 1)
    assert recorder.recording


def test_ticks_whose_command_never_arrived_set_the_episode_aside(tmp_path: Path) -> None:
    # The fault session's case: 40 ticks, the first 19 without a command (the command stream
    # lagging); the episode was published as complete with 21 ticks. It is not the episode
    # that ran: it is set aside, with the named reason and the count.
    recorder, events = make(tmp_path, record_object_state=False)
    recorder.start("relocate", "init", 1)
    for tick in range(40):
        if tick < 20:
            recorder.on_joint_state(stamp(tick), q(tick), -q(tick), arrival_ns=0)
            problem = recorder.on_intervention(InterventionSample(stamp(tick), 0), arrival_ns=0)
            assert problem is None or problem == "tick lost: no command received yet"
        else:
            assert arbiter_tick(recorder, tick, 0) is None
    assert sum(recorder.lost.values()) == 19
    ended = recorder.end(ep.OUTCOME_SUCCESS)
    assert not ended.complete and ended.num_ticks == 21
    assert f"{TICKS_LOST}: 19 of its 40 control ticks were not recorded" in ended.message
    assert "19 x no command received yet" in ended.message
    assert ended.bag_path.endswith(".incomplete") and Path(ended.bag_path).is_dir()
    assert [e.event for e in events] == [ep.EVENT_START, ep.EVENT_INCOMPLETE]
    assert events[-1].outcome == ep.OUTCOME_SUCCESS and TICKS_LOST in events[-1].detail
    episodes, errors = ep.load_episodes(tmp_path)
    assert episodes == [] and len(errors) == 1 and isinstance(errors[0], ep.IncompleteEpisodeError)


def test_joint_state_ticks_without_arbiter_record_a_demonstration(tmp_path: Path) -> None:
    recorder, _ = make(tmp_path, ready=False, ticks_from_arbiter=False,
                       source_without_arbiter=ep.SOURCE_HUMAN, cameras=("front",),
                       record_object_state=False, command_topic="/hand_position_controller/commands")
    frame = np.full((4, 5, 3), 7, dtype=np.uint8)
    assert recorder.on_joint_state(stamp(0), q(0), q(0), arrival_ns=0) is None  # no episode yet
    recorder.on_command(None, q(0))
    with pytest.raises(RecorderNotReady, match="/camera/front/image_raw"):  # waits for every camera
        recorder.start("door", "init", 3)
    recorder.on_image("front", frame)
    recorder.start("door", "init", 3)
    for tick in range(1, 6):
        recorder.on_image("front", frame + tick)
        assert recorder.on_joint_state(stamp(tick), q(tick), q(tick), arrival_ns=0) is None
        recorder.on_command(None, q(tick) * 2)  # unstamped controller command, after the tick
    ended = recorder.end(ep.OUTCOME_FAILURE)
    assert ended.complete and "not recorded" not in ended.message, ended.message
    episode = ep.read_episode(ended.bag_path)
    assert episode.num_ticks == 5 and episode.outcome == ep.OUTCOME_FAILURE
    assert episode.intervention.all() and (episode.intervention_id == 1).all()
    np.testing.assert_array_equal(episode.edge, [ep.EDGE_TAKEOVER, 0, 0, 0, 0])
    np.testing.assert_array_equal(episode.command, [q(t) * 2 for t in range(1, 6)])
    np.testing.assert_array_equal(episode.images["front"][:, 0, 0, 0], [8, 9, 10, 11, 12])
    assert episode.policy_command is None and episode.object_state is None


def test_service_misuse_is_refused_and_loses_nothing(tmp_path: Path) -> None:
    recorder, events = make(tmp_path, record_object_state=False)
    with pytest.raises(RecorderRequestError, match="no episode is running"):
        recorder.end(ep.OUTCOME_SUCCESS)
    with pytest.raises(RecorderRequestError, match="task must not be empty"):
        recorder.start("", "init", 0)
    recorder.start("relocate", "init", 1)
    arbiter_tick(recorder, 0, 0)
    with pytest.raises(RecorderRequestError, match="still running"):
        recorder.start("relocate", "init", 2)
    for bad in (ep.OUTCOME_UNKNOWN, 9):
        expected = rf"outcome {bad} is not an episode label.*SUCCESS \(1\)"
        with pytest.raises(RecorderRequestError, match=expected):
            recorder.end(bad)
    arbiter_tick(recorder, 1, 0)
    ended = recorder.end(ep.OUTCOME_ABORTED)
    assert ended.complete and ep.read_episode(ended.bag_path).num_ticks == 2
    assert [e.event for e in events] == [ep.EVENT_START, ep.EVENT_END]


def test_an_episode_without_ticks_is_set_aside_as_incomplete(tmp_path: Path) -> None:
    recorder, events = make(tmp_path, object_names=OBJECTS)
    recorder.start("relocate", "init", 1)
    ended = recorder.end(ep.OUTCOME_SUCCESS)
    assert not ended.complete and "no control tick" in ended.message, ended.message
    assert ended.bag_path.endswith(".incomplete") and events[-1].event == ep.EVENT_INCOMPLETE
    assert not recorder.recording and ep.load_episodes(tmp_path)[0] == []


def test_the_tick_bound_truncates_and_says_so(tmp_path: Path) -> None:
    recorder, _ = make(tmp_path, max_episode_ticks=3, record_object_state=False)
    recorder.start("relocate", "init", 1)
    problems = [arbiter_tick(recorder, tick, 0) for tick in range(5)]
    assert problems[:3] == [None] * 3 and "max_episode_ticks (3) reached" in problems[-1]
    ended = recorder.end(ep.OUTCOME_SUCCESS)
    assert ended.complete and "truncated at max_episode_ticks=3" in ended.message
    assert "2 x max_episode_ticks" in ended.message
    np.testing.assert_array_equal(ep.read_episode(ended.bag_path).stamp_ns, stamp(np.arange(3)))


def test_a_tick_with_a_stamp_not_after_the_previous_is_lost_and_said(tmp_path: Path) -> None:
    recorder, _ = make(tmp_path, record_object_state=False)
    recorder.start("relocate", "init", 1)
    problems = [arbiter_tick(recorder, tick, 0) for tick in (0, 1, 1, 2)]
    assert problems == [None, None, "tick lost: tick stamp is not after the previous tick's", None]
    ended = recorder.end(ep.OUTCOME_SUCCESS)
    assert not ended.complete and "1 of its 4 control ticks were not recorded" in ended.message
    assert "1 x tick stamp is not after" in ended.message


def test_chunks_are_stored_and_invalid_ones_dropped(tmp_path: Path) -> None:
    recorder, _ = make(tmp_path, record_object_state=False)
    recorder.start("relocate", "init", 1)
    chunk = ep.ActionChunkRecord(stamp_ns=stamp(0) + 5, chunk_id=4, observation_stamp_ns=stamp(0),
                                 joint_names=JOINTS, anchor=q(0), actions=np.ones((2, 3)),
                                 targets=np.zeros((2, 3)), delay_steps=1, optimality=1.0)
    for tick in range(3):
        arbiter_tick(recorder, tick, 0)
        if tick == 0:
            assert recorder.on_chunk(chunk) is None
    bad = ep.ActionChunkRecord(stamp_ns=stamp(1), chunk_id=5, observation_stamp_ns=stamp(1),
                               joint_names=JOINTS, anchor=q(0) * np.nan, actions=np.ones((2, 3)),
                               targets=np.zeros((2, 3)))
    assert "chunk 5 dropped" in recorder.on_chunk(bad)
    episode = ep.read_episode(recorder.end(ep.OUTCOME_SUCCESS).bag_path)
    assert [(c.chunk_id, c.tick, c.delay_steps) for c in episode.chunks] == [(4, 0, 1)]


def test_start_up_sets_aside_leftovers_and_keeps_finished_episodes(tmp_path: Path) -> None:
    written = write_random_episode(tmp_path, "finished", num_ticks=10)
    simulate_killed_recorder(tmp_path)
    assert (tmp_path / "killed.partial" / RECORDING_NOTE).is_file()
    before = (tmp_path / "finished" / "finished.mcap").read_bytes()

    recorder, events = make(tmp_path)
    recovered = recorder.recover_unfinished()
    assert recovered == events and len(events) == 1
    event = events[0]
    assert event.event == ep.EVENT_INCOMPLETE and event.episode_id == "killed"
    assert (event.task, event.stage, event.seed) == ("door", "unlatched", 11)
    assert event.bag_path == str(tmp_path / "killed.incomplete")
    assert not (tmp_path / "killed.partial").exists()
    assert (tmp_path / "finished" / "finished.mcap").read_bytes() == before
    episodes, errors = ep.load_episodes(tmp_path)
    assert [e.episode_id for e in episodes] == ["finished"]
    np.testing.assert_array_equal(episodes[0].joint_positions, written["q"])
    assert len(errors) == 1 and isinstance(errors[0], ep.IncompleteEpisodeError)
    assert recorder.recover_unfinished() == []  # already set aside: reported once


def test_shutdown_mid_episode_sets_it_aside(tmp_path: Path) -> None:
    recorder, events = make(tmp_path, record_object_state=False)
    recorder.start("relocate", "init", 1)
    arbiter_tick(recorder, 0, 0)
    arbiter_tick(recorder, 1, 0)
    event = recorder.shutdown("stopping")
    assert event is not None and event.event == ep.EVENT_INCOMPLETE and not recorder.recording
    assert Path(event.bag_path).name.endswith(".incomplete") and events[-1] == event
    assert recorder.shutdown("again") is None
