"""Chunk scheduler on the simulated clock: timing, prefix, continuity, hold, sync, errors."""
import numpy as np
import pytest

from dexpie_policy.scheduler import (ChunkScheduler, InferenceError, Observation, RunnerPredictor,
                                     UniformLatency, boundary_and_within_steps,
                                     boundary_jump_ratio, hold_runs)
from dexpie_policy.scheduler.fake_predictors import SmoothExpertPredictor, sinusoid_trajectory

J = 3


class RampPredictor:
    """q(t) = velocity * t + a large per-chunk offset; given a prefix, continues it exactly.

    With a prefix the chunk is prefix rows, then prefix[-1] + velocity * (1, 2, ...): a
    scheduler that passes the right prefix and starts at d executes a perfect ramp.
    """

    def __init__(self, horizon=8, velocity=0.01, offset=1.0, fail_on_calls=()):
        self.horizon, self.velocity, self.offset = horizon, velocity, offset
        self.fail_on_calls = set(fail_on_calls)
        self.calls = []  # (observation tick, prefix or None)

    def predict_chunk(self, observation, prefix_targets):
        self.calls.append((observation.tick, None if prefix_targets is None
                           else prefix_targets.copy()))
        if len(self.calls) in self.fail_on_calls:
            raise RuntimeError(f"model exploded on call {len(self.calls)}")
        ticks = observation.tick + np.arange(self.horizon)
        chunk = self.velocity * ticks[:, None] * np.ones(J) + self.offset * len(self.calls)
        if prefix_targets is not None:
            d = len(prefix_targets)
            chunk[:d] = prefix_targets
            steps_after = np.arange(1, self.horizon - d + 1)[:, None]
            chunk[d:] = prefix_targets[-1] + self.velocity * steps_after
        return chunk


def run(scheduler, ticks, q0=None, follow=True):
    """Drive `ticks` control ticks; the measured position follows the target (perfect tracking)."""
    q = np.zeros(J) if q0 is None else np.asarray(q0, float)
    outs = []
    for t in range(ticks):
        out = scheduler.tick(Observation(joint_positions=q.copy(), stamp=f"s{t}", tick=t))
        outs.append(out)
        if follow:
            q = out.target
    return outs


def test_start_index_equals_delay_and_first_executed_row_is_row_d():
    pred = RampPredictor(horizon=10)
    sched = ChunkScheduler.simulated(pred, latency_ticks=3, request_threshold=3)
    outs = run(sched, 60)
    records = [o.arrived for o in outs if o.arrived is not None]
    assert len(records) >= 5
    for rec in records:
        assert rec.delay_steps == 3 == rec.start_index
        assert rec.arrival_tick == rec.observation_tick + 3
        out = outs[rec.arrival_tick]
        assert out.chunk_id == rec.chunk_id and out.chunk_index == 3
        np.testing.assert_array_equal(out.target, rec.targets[3])
        assert rec.observation_stamp == f"s{rec.observation_tick}"
        assert rec.horizon == 10


@pytest.mark.parametrize("latency", [2, 3, UniformLatency(1, 4)])
def test_prefix_passed_equals_the_actions_executed_while_computing(latency):
    pred = RampPredictor(horizon=12)
    sched = ChunkScheduler.simulated(pred, latency_ticks=latency, seed=5, request_threshold=4)
    outs = run(sched, 120)
    executed = np.array([o.target for o in outs])
    records = {o.arrived.chunk_id: o.arrived for o in outs if o.arrived is not None}
    assert pred.calls[0][1] is None  # start-up: nothing committed yet
    checked = 0
    for chunk_id, (obs_tick, prefix) in enumerate(pred.calls):
        if prefix is None or chunk_id not in records:
            continue
        rec = records[chunk_id]
        # the prefix rows are exactly what the robot executed from the observation tick on ...
        np.testing.assert_array_equal(prefix[:rec.delay_steps],
                                      executed[obs_tick:obs_tick + rec.delay_steps])
        assert rec.prefix_steps == len(prefix)
        # ... and they cover every tick executed before the new chunk took over
        assert rec.delay_steps <= len(prefix)
        checked += 1
    assert checked >= 10
    assert not any(o.hold for o in outs[records[0].arrival_tick:])


def test_async_with_prefix_is_continuous_and_naive_async_jumps():
    def executed(mode):
        sched = ChunkScheduler.simulated(RampPredictor(horizon=8, offset=1.0), latency_ticks=3,
                                         mode=mode, request_threshold=3)
        outs = run(sched, 80)
        first = next(o.tick for o in outs if not o.hold)
        return np.array([o.target for o in outs[first:]])

    steps = np.diff(executed("async"), axis=0)
    np.testing.assert_allclose(steps, 0.01, atol=1e-12)  # a perfect ramp across boundaries
    naive_steps = np.abs(np.diff(executed("naive_async"), axis=0)).max(axis=1)
    assert (naive_steps > 0.5).sum() >= 10  # one jump of ~offset per chunk boundary


def test_smooth_expert_boundary_jumps_async_vs_naive_vs_sync():
    ratios = {}
    for mode in ("async", "naive_async", "sync"):
        traj = sinusoid_trajectory(J, seed=1)
        pred = SmoothExpertPredictor(traj, horizon=16, offset_std=0.05, seed=2)
        sched = ChunkScheduler.simulated(pred, latency_ticks=UniformLatency(2, 4), seed=3,
                                         mode=mode, request_threshold=4)
        outs = run(sched, 400, q0=traj(np.array([0]))[0])
        ratios[mode] = boundary_jump_ratio(np.array([o.target for o in outs]),
                                           [o.chunk_id for o in outs])
    assert ratios["async"] < 2.0
    assert ratios["naive_async"] > 2 * ratios["async"]
    assert ratios["sync"] > 2 * ratios["async"]


def test_holds_measured_position_at_startup_then_last_target_when_starved():
    pred = RampPredictor(horizon=6)
    # threshold 1 < latency 4: the queue runs dry before each chunk arrives.
    sched = ChunkScheduler.simulated(pred, latency_ticks=4, request_threshold=1)
    q0 = np.array([0.3, -0.2, 0.1])
    obs_positions = [q0 + 0.05 * t for t in range(30)]  # the hand sags while held
    outs = [sched.tick(Observation(obs_positions[t], tick=t)) for t in range(30)]
    for t in range(4):
        assert outs[t].hold and outs[t].hold_reason == "startup" and outs[t].chunk_id is None
        np.testing.assert_array_equal(outs[t].target, q0)  # latched, does not follow the sag
    assert not outs[4].hold
    starved = [o for o in outs if o.hold_reason == "starved"]
    assert starved, "threshold below latency must starve the queue"
    for o in starved:
        last = next(p for p in reversed(outs[:o.tick]) if not p.hold)
        np.testing.assert_array_equal(o.target, last.target)
    assert sched.hold_ticks == sum(o.hold for o in outs)
    assert sched.startup_hold_ticks == 4


def test_sync_holds_during_inference_and_executes_from_index_zero():
    pred = RampPredictor(horizon=5)
    sched = ChunkScheduler.simulated(pred, latency_ticks=3, mode="sync", request_threshold=3)
    outs = run(sched, 16)
    expected = [None] * 3 + [0, 1, 2, 3, 4] + [None] * 3 + [0, 1, 2, 3, 4]
    assert [o.chunk_index for o in outs] == expected
    assert [o.hold for o in outs] == [i is None for i in expected]
    assert [o.requested_chunk_id for o in outs if o.requested_chunk_id is not None] == [0, 1]
    assert outs[0].requested_chunk_id == 0 and outs[8].requested_chunk_id == 1
    for rec in sched.chunk_log:
        assert rec.delay_steps == 3 and rec.start_index == 0 and rec.prefix_steps == 0
    assert pred.calls[1][1] is None  # sync passes no prefix
    assert hold_runs([o.hold for o in outs]) == [3, 3]


def test_sync_with_instant_inference_never_holds():
    sched = ChunkScheduler.simulated(RampPredictor(horizon=4), latency_ticks=0, mode="sync")
    assert not any(o.hold for o in run(sched, 20))


def test_naive_async_passes_no_prefix_but_starts_at_d():
    pred = RampPredictor(horizon=8)
    sched = ChunkScheduler.simulated(pred, latency_ticks=2, mode="naive_async",
                                     request_threshold=2)
    run(sched, 40)
    assert all(prefix is None for _, prefix in pred.calls)
    assert all(rec.start_index == 2 for rec in sched.chunk_log)


def test_prefix_length_follows_measured_delay_when_expected_delay_is_low():
    pred = RampPredictor(horizon=12)
    sched = ChunkScheduler.simulated(pred, latency_ticks=3, request_threshold=6,
                                     expected_delay_steps=1)
    run(sched, 60)
    assert sched.estimated_delay_steps == 3
    assert {len(p) for _, p in pred.calls if p is not None} == {3}
    assert all(rec.delay_steps == 3 for rec in sched.chunk_log)


def test_max_prefix_steps_caps_the_prefix():
    pred = RampPredictor(horizon=12)
    sched = ChunkScheduler.simulated(pred, latency_ticks=5, request_threshold=6,
                                     max_prefix_steps=2)
    run(sched, 60)
    assert max(len(p) for _, p in pred.calls if p is not None) == 2


def test_predictor_exception_is_reported_and_the_loop_goes_on():
    pred = RampPredictor(horizon=8, fail_on_calls={2, 3})
    sched = ChunkScheduler.simulated(pred, latency_ticks=2, request_threshold=2, on_error="report")
    outs = run(sched, 60)
    errors = [o.error for o in outs if o.error]
    assert len(errors) == 2 and sched.error_count == 2
    assert "model exploded on call 3" in sched.last_error
    assert len(pred.calls) > 4  # requested again after each failure
    assert not outs[-1].hold and sched.chunks_received >= 5


def test_wrong_shape_or_nan_is_an_error_not_a_crash():
    class Bad:
        def __init__(self):
            self.n = 0

        def predict_chunk(self, observation, prefix):
            self.n += 1
            return np.zeros((4, J + 1)) if self.n == 1 else np.full((4, J), np.nan)

    sched = ChunkScheduler.simulated(Bad(), latency_ticks=1, on_error="report")
    outs = run(sched, 6)
    assert all(o.hold for o in outs) and sched.error_count >= 2
    assert "non-finite" in sched.last_error


def test_simulated_clock_raises_a_predictor_exception_by_default():
    # In-process loops (evaluation, DAgger) must stop with the error, not hold and carry on.
    pred = RampPredictor(horizon=8, fail_on_calls={2})
    sched = ChunkScheduler.simulated(pred, latency_ticks=2, request_threshold=2)
    with pytest.raises(InferenceError, match=r"chunk 1 requested at tick \d+: "
                                             r"RuntimeError: model exploded on call 2") as caught:
        run(sched, 60)
    assert isinstance(caught.value.__cause__, RuntimeError)  # the predictor's own exception
    assert sched.chunks_received == 1  # it stopped at the failure


@pytest.mark.parametrize("chunk, message", [(np.zeros((4, J + 1)), r"shape \(4, 4\), expected \(H, 3\)"),
                                            (np.full((4, J), np.nan), "non-finite")])
def test_simulated_clock_raises_on_a_wrong_or_non_finite_chunk(chunk, message):
    class Bad:
        def predict_chunk(self, observation, prefix):
            return chunk

    with pytest.raises(InferenceError, match=message):
        run(ChunkScheduler.simulated(Bad(), latency_ticks=1), 6)


def test_on_error_must_be_report_or_raise():
    with pytest.raises(ValueError, match="on_error"):
        ChunkScheduler.simulated(RampPredictor(), on_error="ignore")


def test_chunk_arriving_after_its_horizon_is_not_executed():
    sched = ChunkScheduler.simulated(RampPredictor(horizon=4), latency_ticks=6)
    outs = run(sched, 30)
    assert all(o.hold for o in outs)
    assert sched.late_chunks == sched.chunks_received >= 3
    assert not any(rec.executed for rec in sched.chunk_log)


def test_simulated_clock_is_deterministic():
    def trace(latency_seed):
        traj = sinusoid_trajectory(J, seed=4)
        sched = ChunkScheduler.simulated(SmoothExpertPredictor(traj, seed=7),
                                         latency_ticks=UniformLatency(1, 5), seed=latency_seed,
                                         request_threshold=5)
        outs = run(sched, 200)
        return (np.array([o.target for o in outs]),
                [(r.chunk_id, r.observation_tick, r.delay_steps) for r in sched.chunk_log])

    a, b, c = trace(11), trace(11), trace(12)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert a[1] != c[1]


def test_reset_drops_the_chunk_in_flight_and_restarts_the_tick_count():
    pred = RampPredictor(horizon=8)
    sched = ChunkScheduler.simulated(pred, latency_ticks=3)
    run(sched, 2)  # request 0 in flight
    sched.reset()
    outs = run(sched, 6, q0=np.ones(J))
    assert outs[0].tick == 0 and outs[0].requested_chunk_id == 1
    assert [o.arrived.chunk_id for o in outs if o.arrived] == [1]
    np.testing.assert_array_equal(outs[0].target, np.ones(J))


def test_mapping_observation_is_accepted():
    pred = RampPredictor(horizon=4)

    class TickDict(dict):
        tick = property(lambda self: self["tick"])

    sched = ChunkScheduler.simulated(pred, latency_ticks=0)
    out = sched.tick(TickDict(joint_positions=np.zeros(J), tick=0, stamp=1.5))
    assert out.arrived.observation_stamp == 1.5 and not out.hold


def test_invalid_configuration_is_rejected():
    with pytest.raises(ValueError):
        ChunkScheduler.simulated(RampPredictor(), mode="fast")
    with pytest.raises(ValueError):
        ChunkScheduler.simulated(RampPredictor(), request_threshold=-1)


def test_boundary_metric_counts_steps_across_holds():
    targets = np.array([[0.0], [0.1], [0.2], [0.2], [1.2], [1.3]])
    ids = [0, 0, 0, None, 1, 1]
    boundary, within = boundary_and_within_steps(targets, ids)
    np.testing.assert_allclose(boundary, [1.0])
    np.testing.assert_allclose(within, [0.1, 0.1, 0.1])
    assert boundary_jump_ratio(targets, ids) == pytest.approx(10.0)
    assert hold_runs([True, True, False, True, False, False, True]) == [2, 1, 1]


def test_runner_adapter_passes_observation_parts_and_prefix_as_keywords():
    class FakeRunner:
        def predict_chunk(self, joint_positions, object_state=None, images=None,
                          prefix_targets=None, optimality=None, cfg_scale=1.0):
            self.seen = (joint_positions, object_state, images, prefix_targets, optimality)
            return np.tile(joint_positions, (4, 1))

    runner = FakeRunner()
    predictor = RunnerPredictor(runner, optimality=1.0)
    obs = Observation(np.ones(J), tick=0, extras={"object_state": np.zeros(2)})
    prefix = np.zeros((2, J))
    assert predictor.predict_chunk(obs, prefix).shape == (4, J)
    q, obj, images, seen_prefix, optimality = runner.seen
    np.testing.assert_array_equal(obj, np.zeros(2))
    assert images is None and seen_prefix is prefix and optimality == 1.0
