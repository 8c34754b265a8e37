"""The composed control tick (scheduler -> arbiter -> hand controller) on plain numpy, simulated clock."""
import dataclasses

import numpy as np
import pytest

from dexpie_control.chain import ControlChain, HandControllerSettings
from dexpie_control.hand_controller_parameters import SCHEMA
from dexpie_control.safety import HoldReason, JointLimits
from dexpie_policy.scheduler import TickOutput as SchedulerOutput
from dexpie_teleop import arbiter as arb
from dexpie_teleop.arbiter import ArbiterConfig, InterventionArbiter
from dexpie_teleop.glove import GloveCalibration, GloveRetargeter
from dexpie_teleop.spacemouse import SpacemouseConfig, SpacemouseFilter, TwistIntegrator
from dexpie_teleop.teleop import DeviceReading, TeleopPipeline

DT = 1.0 / 30.0
ARM = ("x", "y")
FINGERS = ("f0", "f1")
NAMES = ARM + FINGERS
LOWER = np.array([-1.0, -1.0, 0.0, 0.0])
UPPER = np.array([1.0, 1.0, 1.6, 1.6])
MAX_VELOCITY = np.array([0.5, 0.5, 10.0, 10.0])   # m/s (arm slides), rad/s (fingers)
MEASURED = np.array([0.1, -0.1, 0.2, 0.2])
WATCHDOG = 0.2


def settings():
    return HandControllerSettings(JointLimits(NAMES, LOWER, UPPER, MAX_VELOCITY), DT, WATCHDOG)


def teleop():
    retargeter = GloveRetargeter(GloveCalibration.one_to_one(FINGERS, LOWER[2:], UPPER[2:]))
    integrator = TwistIntegrator(np.hstack([np.eye(2), np.zeros((2, 4))]), LOWER[:2], UPPER[:2], 1.0)
    return TeleopPipeline(retargeter, SpacemouseFilter(SpacemouseConfig()), integrator, DT)


class ScriptedScheduler:
    """Stands in for the ChunkScheduler: proposes the given target on each tick, counts resets."""

    def __init__(self, targets):
        self.targets = list(targets)
        self.ticks = 0
        self.resets = 0

    def reset(self):
        self.resets += 1

    def tick(self, observation):
        target = np.asarray(self.targets[min(self.ticks, len(self.targets) - 1)], float)
        self.ticks += 1
        return SchedulerOutput(tick=self.ticks - 1, target=target.copy(), hold=False, hold_reason=None,
                               chunk_id=0, chunk_index=self.ticks - 1, arrived=None,
                               requested_chunk_id=None, error=None)


def policy_chain(targets):
    chain = ControlChain(InterventionArbiter(teleop(), ArbiterConfig()), settings(), ScriptedScheduler(targets))
    chain.start_episode(MEASURED)
    return chain


def run(chain, ticks, first_tick=0):
    return [chain.step((first_tick + k) * DT, MEASURED, observation=object()) for k in range(ticks)]


def test_a_policy_command_within_the_limits_reaches_the_hand_unchanged():
    wanted = MEASURED + np.array([0.01, -0.01, 0.2, -0.1])   # within max_velocity * dt per joint
    out = run(policy_chain([wanted]), 3)
    for tick in out:
        np.testing.assert_array_equal(tick.command, wanted)
        np.testing.assert_array_equal(tick.target, wanted)
        assert not tick.limited and tick.arbiter.source == arb.SOURCE_POLICY


def test_a_nan_proposal_is_refused_and_the_hand_holds_then_resumes_from_a_fresh_scheduler():
    good = MEASURED + np.array([0.01, 0.0, 0.1, 0.0])
    nan = good.copy()
    nan[1] = np.nan
    chain = policy_chain([good, good, nan, good])
    resets_at_start = chain.scheduler.resets
    out = run(chain, 4)
    held = out[2]
    assert held.arbiter.source == arb.SOURCE_SAFETY_HOLD and held.arbiter.reason == arb.REASON_STALE_INPUT
    np.testing.assert_array_equal(held.target, out[1].target)   # the hand keeps its last target
    assert np.all(np.isfinite(held.command)) and np.all(np.isfinite(held.target))
    # The next valid proposal hands control back to the policy, whose scheduler starts afresh.
    assert out[3].arbiter.edge == arb.EDGE_HANDBACK and out[3].arbiter.resume_policy
    assert chain.scheduler.resets == resets_at_start + 1
    assert chain.counts.arbiter_hold_ticks == 1 and chain.counts.controller_hold_ticks == 0
    assert chain.counts.hold_ticks == 1


class NonFiniteArbiter(InterventionArbiter):
    """An arbiter that lets a non-finite command through on one tick (a broken upstream)."""

    def __init__(self, *args, bad_tick, **kwargs):
        super().__init__(*args, **kwargs)
        self.bad_tick = bad_tick

    def step(self, now, measured, policy_command, reading, **kwargs):
        out = super().step(now, measured, policy_command, reading, **kwargs)
        if out.tick == self.bad_tick:
            command = out.command.copy()
            command[0] = np.inf
            out = dataclasses.replace(out, command=command)
        return out


def test_the_hand_controller_refuses_a_non_finite_command_whole_and_the_hand_keeps_its_target():
    wanted = MEASURED + np.array([0.01, 0.0, 0.1, 0.0])
    chain = ControlChain(NonFiniteArbiter(teleop(), bad_tick=2), settings(), ScriptedScheduler([wanted]))
    chain.start_episode(MEASURED)
    out = run(chain, 4)
    assert out[2].rejected is not None and "non-finite" in out[2].rejected and out[2].limited
    np.testing.assert_array_equal(out[2].target, out[1].target)
    assert chain.counts.rejected_commands == 1
    assert [t.rejected for t in (out[0], out[1], out[3])] == [None, None, None]


def test_a_jump_beyond_max_velocity_times_dt_is_rate_limited_per_tick():
    jump = MEASURED + np.array([0.3, 0.0, 1.0, 0.0])   # 0.3 m on a 0.5 m/s slide: 18 ticks at 30 Hz
    chain = policy_chain([jump])
    out = run(chain, 30)
    first = out[0]
    np.testing.assert_array_equal(first.command, jump)   # the arbiter passes the policy's jump on
    np.testing.assert_allclose(first.target - MEASURED, [0.5 * DT, 0.0, 10.0 * DT, 0.0])
    assert first.rate_limited and first.safety.clipped and first.limited
    steps = np.abs(np.diff([MEASURED] + [t.target for t in out], axis=0))
    assert np.all(steps <= MAX_VELOCITY * DT + 1e-12)
    np.testing.assert_allclose(out[-1].target, jump)    # and it gets there
    assert not out[-1].limited
    moving = int(np.ceil(0.3 / (0.5 * DT) - 1e-9))
    assert chain.counts.rate_limited_ticks == moving == chain.counts.clipped_ticks


def test_a_command_outside_the_joint_limits_is_clipped_but_not_counted_as_rate_limited():
    beyond = MEASURED.copy()
    beyond[3] = UPPER[3] + 0.5
    chain = policy_chain([beyond])
    chain.hand_controller = dataclasses.replace(
        settings(), limits=JointLimits(NAMES, LOWER, UPPER, np.full(4, 100.0)))
    chain.start_episode(MEASURED)
    out = run(chain, 2)
    assert out[0].target[3] == UPPER[3] and out[0].safety.clipped and not out[0].rate_limited
    assert chain.counts.clipped_ticks == 2 and chain.counts.rate_limited_ticks == 0


def test_the_watchdog_holds_when_no_command_arrives():
    target = MEASURED + np.array([0.2, 0.0, 0.0, 0.0])   # a move that takes 12 ticks
    chain = policy_chain([target])
    last = run(chain, 2)[-1]
    # The upstream goes silent: the hand controller's timer keeps the rate-limited move going
    # until the watchdog timeout, then holds where it got to.
    quiet = [chain.tick_without_command(k * DT) for k in range(2, 20)]
    ages = [k * DT - 1 * DT for k in range(2, 20)]   # since the last command (tick 1), as the filter computes it
    for tick, age in zip(quiet, ages):
        assert tick.arbiter is None and tick.command is None
        expected = HoldReason.STALE_COMMAND if age > WATCHDOG else HoldReason.NONE
        assert tick.safety.hold is expected, age
    held = [t.target for t, age in zip(quiet, ages) if age > WATCHDOG]
    assert len(held) >= 2 and all(np.array_equal(h, held[0]) for h in held)
    assert held[0][0] > last.target[0] and held[0][0] < target[0]   # moved on, then stopped short
    assert chain.counts.controller_hold_ticks == len(held)
    # A fresh command resumes tracking.
    resumed = chain.step(20 * DT, MEASURED, observation=object())
    assert resumed.safety.hold is HoldReason.NONE and resumed.target[0] > held[0][0]


def test_before_any_command_the_hand_holds_the_measured_position():
    chain = policy_chain([MEASURED + 0.1])
    tick = chain.tick_without_command(0.0)
    assert tick.safety.hold is HoldReason.NO_COMMAND_YET
    np.testing.assert_array_equal(tick.target, MEASURED)


def test_a_new_episode_starts_the_hand_controller_afresh_at_the_measured_position():
    chain = policy_chain([MEASURED + np.array([0.5, 0.0, 0.0, 0.0])])
    run(chain, 60)   # ends near x = 0.6, at t = 2 s
    elsewhere = np.array([-0.5, 0.3, 1.0, 1.0])
    chain.scheduler.targets = [elsewhere + np.array([0.3, 0.0, 0.0, 0.0])]
    chain.start_episode(elsewhere)   # the twin was reset; its clock starts at 0 again
    first = chain.step(0.0, elsewhere, observation=object())
    # Moves from the new measured pose by one full period's allowance, not from the old target
    # and not frozen by the clock going back.
    np.testing.assert_allclose(first.target, elsewhere + np.array([0.5 * DT, 0, 0, 0]))
    assert chain.counts.ticks == 1


def test_demonstrations_run_the_arbiter_in_human_only_mode_through_the_safety_core():
    chain = ControlChain(InterventionArbiter(teleop(), ArbiterConfig(), human_only=True), settings())
    chain.start_episode(MEASURED)
    glove = np.array([1.5, 1.5])   # fingers far from where the hand is: the blend and the rate limit act
    out = [chain.step(k * DT, MEASURED, reading=DeviceReading(glove, np.zeros(6))) for k in range(20)]
    assert (out[0].arbiter.source, out[0].arbiter.edge, out[0].arbiter.reason) == (
        arb.SOURCE_HUMAN, arb.EDGE_TAKEOVER, arb.REASON_EPISODE_BOUNDARY)
    np.testing.assert_array_equal(out[0].target, MEASURED)   # the clutch: no jump at the start
    assert all(t.proposal is None and t.arbiter.source == arb.SOURCE_HUMAN for t in out)
    steps = np.abs(np.diff([t.target for t in out], axis=0))
    assert np.all(steps <= MAX_VELOCITY * DT + 1e-12)
    np.testing.assert_allclose(out[-1].target[2:], glove)


def test_a_scheduler_needs_an_observation_and_the_chain_needs_a_start():
    chain = ControlChain(InterventionArbiter(teleop()), settings(), ScriptedScheduler([MEASURED]))
    with pytest.raises(RuntimeError, match="start_episode"):
        chain.step(0.0, MEASURED, observation=object())
    chain.start_episode(MEASURED)
    with pytest.raises(ValueError, match="observation"):
        chain.step(0.0, MEASURED)


def test_joint_orders_must_agree():
    wrong = HandControllerSettings(JointLimits(("x", "y", "f1", "f0"), LOWER, UPPER, MAX_VELOCITY), DT, WATCHDOG)
    with pytest.raises(ValueError, match="joint order"):
        ControlChain(InterventionArbiter(teleop()), wrong)
    with pytest.raises(ValueError, match="control period"):
        ControlChain(InterventionArbiter(teleop()), dataclasses.replace(settings(), control_dt=0.01))


def test_settings_from_the_nodes_parameters_are_the_nodes():
    values = SCHEMA.validate(dict(joint_names=list(NAMES), lower_limits=LOWER.tolist(),
                                  upper_limits=UPPER.tolist(), max_velocity=MAX_VELOCITY.tolist(),
                                  rate_hz=30.0))
    built = HandControllerSettings.from_parameters(values)
    assert built.limits.names == NAMES and built.control_dt == pytest.approx(DT)
    assert built.watchdog_timeout == SCHEMA.by_name["watchdog_timeout"].default
    np.testing.assert_array_equal(built.limits.max_velocity, MAX_VELOCITY)
