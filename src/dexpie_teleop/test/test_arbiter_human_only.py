"""Human-only mode of the arbiter (demonstration collection: no policy runs)."""
import numpy as np

from dexpie_teleop import arbiter as arb
from dexpie_teleop.arbiter import ArbiterConfig, InterventionArbiter
from dexpie_teleop.glove import GloveCalibration, GloveRetargeter
from dexpie_teleop.spacemouse import SpacemouseConfig, SpacemouseFilter, TwistIntegrator
from dexpie_teleop.teleop import DeviceReading, TeleopPipeline

DT = 1.0 / 30.0
MEASURED = np.array([0.1, 0.0, 0.0, 0.2, 0.2, 0.2])


def make_arbiter(config=ArbiterConfig(idle_handback_time=0.3, max_transition_step=0.05)):
    retargeter = GloveRetargeter(GloveCalibration.one_to_one(["f0", "f1", "f2"], [0, 0, 0], [1.6] * 3))
    integrator = TwistIntegrator(np.hstack([np.eye(3), np.zeros((3, 3))]), [-2] * 3, [2] * 3, 1.0)
    pipeline = TeleopPipeline(retargeter, SpacemouseFilter(SpacemouseConfig()), integrator, DT)
    arbiter = InterventionArbiter(pipeline, config, human_only=True)
    arbiter.start_episode(MEASURED, now=0.0)
    return arbiter


def reading(fingers=(0.9, 0.9, 0.9), buttons=(False, False)):
    return DeviceReading(np.array(fingers, float), np.zeros(6), buttons)


def run(arbiter, ticks, start, dev=None, **ages):
    return [arbiter.step((start + k) * DT, MEASURED, None, reading() if dev is None else dev, **ages)
            for k in range(ticks)]


def test_episode_starts_under_human_control_without_a_jump_and_never_hands_back():
    arbiter = make_arbiter()
    outputs = run(arbiter, 1, 0)
    first = outputs[0]
    assert (first.source, first.edge, first.reason, first.intervention_id) == (
        arb.SOURCE_HUMAN, arb.EDGE_TAKEOVER, arb.REASON_EPISODE_BOUNDARY, 1)
    np.testing.assert_array_equal(first.command, MEASURED)  # the clutch: starts where the hand is
    # No policy at all, the human idle far past idle_handback_time, buttons pressed: still human.
    for k in range(60):
        buttons = (k % 10 == 5, False)
        out = arbiter.step((1 + k) * DT, MEASURED, None, reading(buttons=buttons))
        outputs.append(out)
        assert out.source == arb.SOURCE_HUMAN and out.edge == arb.EDGE_NONE
    np.testing.assert_allclose(outputs[-1].command, [0.1, 0.0, 0.0, 0.9, 0.9, 0.9])  # glove reached
    steps = np.abs(np.diff([o.command for o in outputs], axis=0)).max()
    assert steps <= 0.05 + 1e-12


def test_waits_for_the_devices_then_takes_over_by_itself():
    arbiter = make_arbiter()
    out = arbiter.step(0.0, MEASURED, None, None)
    assert (out.source, out.edge, out.reason) == (arb.SOURCE_SAFETY_HOLD, arb.EDGE_HOLD, arb.REASON_STALE_INPUT)
    assert arbiter.step(DT, MEASURED, None, None).edge == arb.EDGE_NONE
    out = arbiter.step(2 * DT, MEASURED, np.zeros(6), reading())  # a policy command is ignored
    assert (out.source, out.edge, out.reason, out.intervention_id) == (
        arb.SOURCE_HUMAN, arb.EDGE_TAKEOVER, arb.REASON_EPISODE_BOUNDARY, 1)


def test_stale_devices_hold_and_a_press_resumes_human_control_not_the_policy():
    arbiter = make_arbiter()
    run(arbiter, 5, 0)
    out = arbiter.step(5 * DT, MEASURED, MEASURED, reading(), glove_age=1.0)
    assert (out.source, out.reason) == (arb.SOURCE_SAFETY_HOLD, arb.REASON_STALE_INPUT)
    outputs = run(arbiter, 5, 6)  # fresh devices and a fresh policy command: still holding
    outputs += [arbiter.step(11 * DT, MEASURED, MEASURED, reading())]
    assert all(o.source == arb.SOURCE_SAFETY_HOLD for o in outputs)
    out = arbiter.step(12 * DT, MEASURED, None, reading(buttons=(True, False)))
    assert (out.source, out.edge, out.intervention_id) == (arb.SOURCE_HUMAN, arb.EDGE_TAKEOVER, 2)


def test_estop_holds_and_after_reset_only_a_press_resumes():
    arbiter = make_arbiter()
    out = arbiter.step(0.0, MEASURED, None, reading(), estop=True)
    assert (out.source, out.reason) == (arb.SOURCE_SAFETY_HOLD, arb.REASON_ESTOP)
    arbiter.reset_estop()
    assert all(o.source == arb.SOURCE_SAFETY_HOLD for o in run(arbiter, 5, 1))
    out = arbiter.step(6 * DT, MEASURED, None, reading(buttons=(True, False)))
    assert (out.source, out.edge) == (arb.SOURCE_HUMAN, arb.EDGE_TAKEOVER)
