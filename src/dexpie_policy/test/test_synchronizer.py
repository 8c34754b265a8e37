"""The observation synchroniser: aligned sets, tolerance, stale and missing streams, order."""
import pytest

from dexpie_policy.synchronizer import ObservationSynchronizer

STREAMS = ("joint_states", "object_state", "image/front")


def filled(stamps, tolerance=0.01, max_age=0.5):
    sync = ObservationSynchronizer(STREAMS, tolerance, max_age)
    for stream, stamp in stamps.items():
        assert sync.update(stream, stamp, f"{stream}@{stamp}")
    return sync


def test_aligned_set_within_tolerance():
    sync = filled({"joint_states": 10.0, "object_state": 10.004, "image/front": 9.995})
    assembly = sync.assemble(10.0)
    assert assembly.ok and assembly.reason is None
    assert assembly.values == {"joint_states": "joint_states@10.0",
                               "object_state": "object_state@10.004",
                               "image/front": "image/front@9.995"}
    # The clock may be ahead of the stamps by up to max_age.
    assert sync.assemble(10.0, now=10.4).ok


def test_older_than_tolerance_waits_newer_than_tolerance_is_final():
    sync = filled({"joint_states": 10.0, "object_state": 9.95, "image/front": 10.0})
    assembly = sync.assemble(10.0)
    assert not assembly.ok and assembly.pending
    assert assembly.streams_at_fault == ("object_state",)
    assert "object_state is 0.050 s older than the reference (tolerance 0.01 s)" in assembly.reason
    # The matching message arrives: complete.
    sync.update("object_state", 10.0, "fresh")
    assert sync.assemble(10.0).values["object_state"] == "fresh"
    # A newer message replaced it: the reference can never be completed (latest only).
    sync.update("object_state", 10.033, "next tick")
    assembly = sync.assemble(10.0)
    assert not assembly.ok and not assembly.pending
    assert "object_state is 0.033 s newer" in assembly.reason


def test_stale_stream_and_stale_reference():
    sync = filled({"joint_states": 10.0, "object_state": 10.0, "image/front": 10.0},
                  tolerance=0.2, max_age=0.3)
    assembly = sync.assemble(10.0, now=10.35)  # the reference itself is too old
    assert not assembly.ok and not assembly.pending
    assert "the reference stamp 10.000000 is 0.350 s old (max_age 0.3 s)" in assembly.reason
    sync.update("joint_states", 10.15, "q")
    assembly = sync.assemble(10.15, now=10.35)  # the image (10.0) is within tolerance but old
    assert not assembly.ok and assembly.pending
    assert assembly.streams_at_fault == ("object_state", "image/front")
    assert "image/front is 0.350 s old (max_age 0.3 s)" in assembly.reason


def test_missing_stream_is_named_and_pending():
    sync = filled({"joint_states": 1.0, "image/front": 1.0})
    assembly = sync.assemble(1.0)
    assert not assembly.ok and assembly.pending
    assert assembly.reason == "no message yet on object_state"
    assert assembly.stamps == {"joint_states": 1.0, "image/front": 1.0}
    sync.clear()
    assert sync.assemble(1.0).streams_at_fault == STREAMS


def test_out_of_order_stamps_are_ignored():
    sync = filled({"joint_states": 2.0, "object_state": 2.0, "image/front": 2.0})
    assert not sync.update("object_state", 1.9, "late")
    assert sync.out_of_order_count == 1
    assert sync.latest("object_state").value == "object_state@2.0"
    assert sync.update("object_state", 2.0, "same stamp again")  # a repeat is not out of order
    assert sync.assemble(2.0).values["object_state"] == "same stamp again"


def test_bad_construction_and_updates_are_refused():
    with pytest.raises(ValueError, match="unique"):
        ObservationSynchronizer(("a", "a"), 0.1, 1.0)
    with pytest.raises(ValueError, match="tolerance"):
        ObservationSynchronizer(("a",), -0.1, 1.0)
    with pytest.raises(ValueError, match="max_age"):
        ObservationSynchronizer(("a",), 0.1, 0.0)
    sync = ObservationSynchronizer(("a",), 0.1, 1.0)
    with pytest.raises(KeyError, match="'b'"):
        sync.update("b", 1.0, None)
    with pytest.raises(ValueError, match="not finite"):
        sync.update("a", float("nan"), None)
