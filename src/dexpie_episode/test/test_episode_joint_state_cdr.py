"""The JointState fast path is byte-identical to rosbags and steps aside for anything else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from episode_helpers import custom_data_of, rewrite_bag, write_random_episode

import dexpie_episode as ep
from dexpie_episode.joint_state_cdr import joint_state_codec
from dexpie_episode.typestore import jazzy_typestore

JOINT_STATE = "sensor_msgs/msg/JointState"


def _generic(names, position, velocity, effort=(), frame_id="", stamp_ns=123_456_789_012):
    store = jazzy_typestore()
    types = store.types
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    message = types[JOINT_STATE](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id
        ),
        name=list(names),
        position=np.asarray(position, dtype=float),
        velocity=np.asarray(velocity, dtype=float),
        effort=np.asarray(effort, dtype=float),
    )
    return bytes(store.serialize_cdr(message, JOINT_STATE))


@pytest.mark.parametrize("count", [1, 2, 3, 7, 30])
@pytest.mark.parametrize("with_velocity", [True, False])
def test_codec_matches_rosbags(count: int, with_velocity: bool) -> None:
    names = tuple(f"joint_{'x' * i}" for i in range(count))  # varied lengths: varied padding
    codec = joint_state_codec(names, with_velocity)
    assert codec is not None
    rng = np.random.default_rng(count)
    position = rng.normal(size=count)
    velocity = rng.normal(size=count) if with_velocity else np.zeros(0)
    raw = _generic(names, position, velocity)
    assert codec.encode(123_456_789_012, position, velocity if with_velocity else None) == raw
    stamp, decoded_position, decoded_velocity = codec.decode(raw)
    assert stamp == 123_456_789_012
    np.testing.assert_array_equal(decoded_position, position)
    if with_velocity:
        np.testing.assert_array_equal(decoded_velocity, velocity)


def test_codec_declines_messages_that_differ_from_the_template() -> None:
    names = ("a", "bb", "ccc")
    codec = joint_state_codec(names, True)
    q = np.arange(3.0)
    assert codec.decode(_generic(names, q, q)) is not None
    assert codec.decode(_generic(names[::-1], q, q)) is None  # other order
    assert codec.decode(_generic(("a", "bb", "ccd"), q, q)) is None  # other name, same size
    assert codec.decode(_generic(names, q, q, effort=q)) is None  # effort filled
    assert codec.decode(_generic(names, q, q, frame_id="base")) is None
    assert codec.decode(_generic(names, q, ())) is None  # no velocity


def test_reader_falls_back_to_generic_deserialization(tmp_path: Path) -> None:
    written = write_random_episode(tmp_path, "fast", num_ticks=15)
    with_frame = tmp_path / "with_frame"

    def set_frame_id(topic: str, message: object) -> object:
        if topic in (ep.TOPIC_JOINT_STATES, ep.TOPIC_HAND_COMMAND):
            message.header.frame_id = "hand_base"  # type: ignore[attr-defined]
        return message

    rewrite_bag(
        written["path"], with_frame, edit=set_frame_id, custom_data=custom_data_of(written["path"])
    )
    slow, fast = ep.read_episode(with_frame), ep.read_episode(written["path"])
    for field in ("joint_positions", "joint_velocities", "command", "object_state", "stamp_ns"):
        np.testing.assert_array_equal(getattr(slow, field), getattr(fast, field))
