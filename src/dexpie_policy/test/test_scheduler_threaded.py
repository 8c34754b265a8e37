"""Chunk scheduler with the wall-clock inference worker thread.

No sleeps in the test logic: the tick loop is paced by waiting on the fake predictor's
events with short timeouts, and only the deliberately slow fake sleeps (in the worker).
"""
import threading
import time

import numpy as np
import pytest

from dexpie_policy.scheduler import ChunkScheduler, Observation

J = 4
TICK_BOUND_S = 0.005  # a tick must never take longer than this, whatever the model does


class SlowPredictor:
    """Takes `latency_s` per chunk (sleeping in the worker thread); can fail on some calls."""

    def __init__(self, latency_s=0.1, horizon=400, fail_on_calls=()):
        self.latency_s, self.horizon = latency_s, horizon
        self.fail_on_calls = set(fail_on_calls)
        self.calls = 0
        self.started = threading.Event()
        self.returned = threading.Event()

    def predict_chunk(self, observation, prefix_targets):
        self.calls += 1
        self.started.set()
        try:
            time.sleep(self.latency_s)  # the model's inference time
            if self.calls in self.fail_on_calls:
                raise RuntimeError(f"CUDA out of memory (call {self.calls})")
            chunk = np.tile(observation.joint_positions, (self.horizon, 1))
            chunk += 0.001 * np.arange(1, self.horizon + 1)[:, None]
            if prefix_targets is not None:
                chunk[:len(prefix_targets)] = prefix_targets
            return chunk
        finally:
            self.returned.set()


def tick_until(sched, condition, q, timeout_s=5.0, pace_event=None, pace_s=0.002):
    """Run ticks (paced by waiting on `pace_event`) until condition(outs) or timeout.

    Returns the TickOutputs and each tick() call's duration in seconds.
    """
    pace_event = pace_event or threading.Event()
    outs, durations = [], []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        start = time.perf_counter()
        out = sched.tick(Observation(joint_positions=q.copy(), tick=len(outs)))
        durations.append(time.perf_counter() - start)
        outs.append(out)
        q = out.target
        if condition(outs):
            return outs, durations
        if pace_event.wait(pace_s):
            pace_event.clear()  # a model call finished: tick at once to pick its result up
    raise AssertionError(f"condition not met within {timeout_s} s after {len(outs)} ticks")


def test_tick_never_blocks_on_a_slow_model_and_measures_delay_in_ticks():
    pred = SlowPredictor(latency_s=0.1, horizon=120)
    with ChunkScheduler.threaded(pred, request_threshold=4) as sched:
        outs, durations = tick_until(sched, lambda o: sum(x.arrived is not None for x in o) >= 2,
                                     np.zeros(J), pace_event=pred.returned)
        assert max(durations) < TICK_BOUND_S, f"slowest tick {max(durations) * 1e3:.2f} ms"
        first = next(o for o in outs if o.arrived is not None).arrived
        # ticks kept running during the 100 ms inference, all holding
        assert first.delay_steps >= 10
        assert all(o.hold and o.hold_reason == "startup" for o in outs[:first.arrival_tick])
        assert first.start_index == first.delay_steps == first.arrival_tick - first.observation_tick
        assert outs[first.arrival_tick].chunk_index == first.start_index
        assert first.inference_latency >= 0.1


def test_predictor_exception_in_worker_is_reported_and_requested_again():
    pred = SlowPredictor(latency_s=0.0, horizon=20, fail_on_calls={1})
    with ChunkScheduler.threaded(pred, request_threshold=4) as sched:
        outs, _ = tick_until(sched, lambda o: not o[-1].hold, np.zeros(J),
                             pace_event=pred.returned)
        assert sched.error_count == 1
        assert "CUDA out of memory (call 1)" in sched.last_error
        assert [o.error for o in outs if o.error] == [sched.last_error]
        assert pred.calls == 2 and sched.inference.alive


def test_queue_runs_dry_when_threshold_is_below_the_delay_and_holds_last_target():
    pred = SlowPredictor(latency_s=0.03, horizon=100)
    with ChunkScheduler.threaded(pred, request_threshold=1) as sched:
        outs, _ = tick_until(sched, lambda o: any(x.hold_reason == "starved" for x in o)
                             and not o[-1].hold, np.zeros(J))
        for o in outs:
            if o.hold_reason == "starved":
                last = next(p for p in reversed(outs[:o.tick]) if not p.hold)
                np.testing.assert_array_equal(o.target, last.target)


def test_sync_mode_holds_while_the_worker_computes_then_starts_at_zero():
    pred = SlowPredictor(latency_s=0.02, horizon=6)
    with ChunkScheduler.threaded(pred, mode="sync") as sched:
        outs, _ = tick_until(sched, lambda o: sum(x.arrived is not None for x in o) >= 2,
                             np.zeros(J), pace_event=pred.returned)
        records = [o.arrived for o in outs if o.arrived is not None]
        assert all(r.start_index == 0 and r.delay_steps >= 1 for r in records)
        assert outs[records[1].arrival_tick].chunk_index == 0
        between = outs[records[0].arrival_tick + 6:records[1].arrival_tick]
        assert between and all(o.hold and o.hold_reason == "starved" for o in between)


def test_close_stops_the_worker_even_mid_inference():
    pred = SlowPredictor(latency_s=0.05)
    sched = ChunkScheduler.threaded(pred)
    sched.tick(Observation(np.zeros(J), tick=0))
    assert pred.started.wait(2.0)
    sched.close()
    assert not sched.inference.alive
    sched.close()  # idempotent
    with pytest.raises(RuntimeError):
        sched.inference.submit(None, 0)


class GatedPredictor:
    """Returns a chunk once `release` is set (a model that takes as long as the test says)."""

    def __init__(self, horizon=8):
        self.horizon, self.release = horizon, threading.Event()

    def predict_chunk(self, observation, prefix_targets):
        assert self.release.wait(30), "the test never released the model"
        return np.tile(observation.joint_positions, (self.horizon, 1)) + np.arange(1, self.horizon + 1)[:, None]


def test_first_chunk_wait_answers_the_requesting_tick_with_the_chunks_first_row():
    predictor = GatedPredictor()
    predictor.release.set()
    with ChunkScheduler.threaded(predictor, first_chunk_wait_s=30.0) as scheduler:
        out = scheduler.tick(Observation(np.zeros(J)))
        assert not out.hold and out.arrived is not None and out.arrived.delay_steps == 0
        np.testing.assert_allclose(out.target, np.ones(J))
        scheduler.reset()   # an episode start or a hand-back: the next first chunk waits again
        out = scheduler.tick(Observation(np.full(J, 5.0)))
        assert not out.hold
        np.testing.assert_allclose(out.target, np.full(J, 6.0))
        # Later chunks never block the tick: the model is held, the queue runs on.
        predictor.release.clear()
        for _ in range(6):
            assert not scheduler.tick(Observation(np.zeros(J))).hold
        predictor.release.set()


def test_without_first_chunk_wait_the_first_tick_holds_while_the_chunk_is_inferred():
    predictor = GatedPredictor()
    with ChunkScheduler.threaded(predictor) as scheduler:
        out = scheduler.tick(Observation(np.zeros(J)))
        assert out.hold and out.hold_reason == "startup"
        predictor.release.set()


def test_first_chunk_wait_gives_up_after_its_timeout_and_holds():
    predictor = GatedPredictor()
    with ChunkScheduler.threaded(predictor, first_chunk_wait_s=0.05) as scheduler:
        out = scheduler.tick(Observation(np.zeros(J)))
        assert out.hold and out.hold_reason == "startup"
        predictor.release.set()


def test_first_chunk_wait_must_not_be_negative():
    with pytest.raises(ValueError, match="first_chunk_wait_s"):
        ChunkScheduler.threaded(GatedPredictor(), first_chunk_wait_s=-1.0).close()
