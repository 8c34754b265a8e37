"""The intervention arbiter's state machine on a 3-arm-joint + 3-finger hand (plain numpy)."""
import math
import re
from pathlib import Path

import numpy as np
import pytest

from dexpie_teleop import arbiter as arb
from dexpie_teleop.arbiter import ArbiterConfig, InterventionArbiter
from dexpie_teleop.glove import GloveCalibration, GloveRetargeter
from dexpie_teleop.spacemouse import SpacemouseConfig, SpacemouseFilter, TwistIntegrator
from dexpie_teleop.teleop import DeviceReading, TeleopPipeline

DT = 1.0 / 30.0
MSG = Path(__file__).resolve().parents[2] / "dexpie_msgs" / "msg" / "InterventionState.msg"


def make_pipeline() -> TeleopPipeline:
    retargeter = GloveRetargeter(GloveCalibration.one_to_one(["f0", "f1", "f2"], [0, 0, 0], [1.6] * 3))
    integrator = TwistIntegrator(np.hstack([np.eye(3), np.zeros((3, 3))]), [-2] * 3, [2] * 3, 1.0)
    return TeleopPipeline(retargeter, SpacemouseFilter(SpacemouseConfig(deadband=0.08)), integrator, DT)


def reading(fingers=(0.2, 0.2, 0.2), axes=(0.0,) * 6, buttons=(False, False)) -> DeviceReading:
    return DeviceReading(glove=np.array(fingers, float), spacemouse_axes=np.array(axes, float),
                         buttons=buttons)


class Bench:
    """Drives an arbiter tick by tick with a fixed policy command and measured state."""

    def __init__(self, config=ArbiterConfig(), policy=(0.1, 0.0, 0.0, 0.2, 0.2, 0.2)):
        self.arbiter = InterventionArbiter(make_pipeline(), config)
        self.policy = np.array(policy, float)
        self.measured = self.policy.copy()
        self.t = 0
        self.arbiter.start_episode(self.measured, now=0.0)
        self.outputs = []

    def step(self, dev=None, policy="same", estop=False, **ages):
        dev = reading() if dev is None else dev
        command = self.policy if policy == "same" else policy
        out = self.arbiter.step(self.t * DT, self.measured, command, dev, estop=estop, **ages)
        self.t += 1
        self.outputs.append(out)
        return out

    def press(self, **kwargs):
        return self.step(reading(buttons=(True, False), **kwargs))


def test_constants_equal_the_message_definition():
    constants = dict(re.findall(r"^uint8 (\w+)=(\d+)", MSG.read_text(), re.M))
    assert len(constants) == 14
    for name, value in constants.items():
        assert getattr(arb, name) == int(value), name


@pytest.mark.parametrize("kwargs, named", [
    (dict(blend_time=-0.1), "blend_time"), (dict(motion_sustain_ticks=0), "motion_sustain_ticks"),
    (dict(takeover_deflection=1.0), "takeover_deflection"), (dict(device_timeout=0.0), "device_timeout"),
    (dict(max_transition_step=math.inf), "max_transition_step"), (dict(policy_timeout=float("nan")), "policy_timeout"),
    (dict(idle_handback_time=-1.0), "idle_handback_time")])
def test_config_rejects_bad_values_by_name(kwargs, named):
    with pytest.raises(ValueError, match=named):
        ArbiterConfig(**kwargs)


def test_takeover_threshold_inside_the_deadband_is_rejected():
    with pytest.raises(ValueError, match="0.05 is inside the spacemouse deadband 0.08"):
        InterventionArbiter(make_pipeline(), ArbiterConfig(takeover_deflection=0.05))


def test_policy_passes_through_until_a_button_edge_and_a_held_button_is_one_press():
    bench = Bench()
    out = bench.step()
    assert (out.source, out.edge, out.reason, out.intervention_id) == (arb.SOURCE_POLICY, arb.EDGE_NONE,
                                                                      arb.REASON_EPISODE_BOUNDARY, 0)
    np.testing.assert_array_equal(out.command, bench.policy)
    bench.measured = bench.policy + 0.03  # tracking error: the clutch must take the measured pose
    out = bench.press()
    assert (out.source, out.edge, out.reason, out.intervention_id) == (arb.SOURCE_HUMAN, arb.EDGE_TAKEOVER,
                                                                      arb.REASON_BUTTON, 1)
    np.testing.assert_array_equal(out.command, bench.policy)  # the edge tick keeps the last command
    np.testing.assert_allclose(bench.arbiter.teleop.integrator.target, bench.measured[:3])
    for _ in range(20):  # button still held: a level, not an edge
        out = bench.press()
        assert out.source == arb.SOURCE_HUMAN and out.edge == arb.EDGE_NONE
    bench.step()  # release
    out = bench.press()
    assert (out.source, out.edge, out.reason, out.resume_policy) == (arb.SOURCE_POLICY, arb.EDGE_HANDBACK,
                                                                    arb.REASON_BUTTON, True)
    assert not bench.arbiter.teleop.engaged and out.intervention_id == 1
    bench.step()
    assert bench.press().edge == arb.EDGE_NONE  # 2 ticks after the last press: bounce
    for _ in range(5):
        bench.step()
    out = bench.press()
    assert out.edge == arb.EDGE_TAKEOVER and out.intervention_id == 2


def max_step(outputs):
    commands = np.array([o.command for o in outputs])
    return np.abs(np.diff(commands, axis=0)).max()


def test_no_jump_at_takeover_and_handback_and_both_sources_are_reached():
    config = ArbiterConfig(max_transition_step=0.05, blend_time=0.2, idle_handback_time=math.inf)
    bench = Bench(config)
    glove = (1.2, 0.9, 0.0)  # 1.0 rad away from the policy's fingers
    bench.step(reading(glove))
    bench.measured = bench.policy + np.array([0.2, -0.1, 0, 0, 0, 0])  # arm lags its target
    bench.step(reading(glove, buttons=(True, False)))
    for _ in range(40):
        out = bench.step(reading(glove))
    np.testing.assert_allclose(out.command[3:], glove)  # caught up with the glove
    np.testing.assert_allclose(out.command[:3], bench.measured[:3])  # clutch: arm from measured
    handback_at = len(bench.outputs)
    bench.step(reading(glove, buttons=(True, False)))
    for _ in range(40):
        out = bench.step(reading(glove))
    np.testing.assert_allclose(out.command, bench.policy)
    assert max_step(bench.outputs) <= config.max_transition_step + 1e-12
    assert out.source == arb.SOURCE_POLICY  # the glove left where it was: no takeover back
    flags = [o.transition for o in bench.outputs]
    assert flags[1] and flags[2] and not flags[0] and not flags[-1]  # edge tick, then the blend
    # The blend really ramps (not a hold and a late switch): it starts moving right away.
    assert np.abs(bench.outputs[handback_at + 1].command - bench.outputs[handback_at].command).max() > 0.01


def test_device_motion_takes_over_only_when_sustained():
    config = ArbiterConfig(motion_sustain_ticks=3, takeover_deflection=0.15)
    bench = Bench(config)
    pushed = reading(axes=(0.5, 0, 0, 0, 0, 0))
    for dev in (pushed, pushed, reading(), pushed, pushed):  # interrupted: never 3 in a row
        assert bench.step(dev).source == arb.SOURCE_POLICY
    assert bench.step(reading(axes=(0.12, 0, 0, 0, 0, 0))).source == arb.SOURCE_POLICY  # below threshold
    for _ in range(2):
        assert bench.step(pushed).source == arb.SOURCE_POLICY
    out = bench.step(pushed)
    assert (out.edge, out.reason) == (arb.EDGE_TAKEOVER, arb.REASON_DEVICE_MOTION)


def test_glove_away_from_the_policy_fingers_takes_over_and_can_be_disabled():
    away = reading(fingers=(0.2, 0.8, 0.2))  # 0.6 rad from the policy's finger command
    bench = Bench(ArbiterConfig(motion_sustain_ticks=2, glove_takeover_deviation=0.35))
    bench.step()  # the glove rests at the policy's fingers when the policy gets control
    assert bench.step(away).edge == arb.EDGE_NONE
    assert bench.step(away).reason == arb.REASON_DEVICE_MOTION
    bench = Bench(ArbiterConfig(motion_sustain_ticks=2, glove_takeover_deviation=math.inf))
    assert all(bench.step(away).source == arb.SOURCE_POLICY for _ in range(10))


def test_idle_human_hands_back_and_motion_resets_the_idle_timer():
    config = ArbiterConfig(idle_handback_time=0.5)  # 15 ticks
    bench = Bench(config)
    bench.press()
    for k in range(12):
        out = bench.step(reading(fingers=(0.2 + 0.02 * (k % 2), 0.2, 0.2)))  # glove noise: no motion
    assert out.source == arb.SOURCE_HUMAN and out.human_idle_time == pytest.approx(12 * DT)
    out = bench.step(reading(fingers=(0.6, 0.2, 0.2)))  # a real finger motion
    assert out.human_idle_time == 0.0
    ticks = 0
    while out.source == arb.SOURCE_HUMAN:
        out = bench.step(reading(fingers=(0.6, 0.2, 0.2)))
        ticks += 1
    assert (out.edge, out.reason, out.resume_policy) == (arb.EDGE_HANDBACK, arb.REASON_HUMAN_IDLE, True)
    assert ticks == 15


def test_simultaneous_buttons_count_once_and_bounces_are_ignored():
    bench = Bench(ArbiterConfig(button_debounce_time=0.15))  # 4.5 ticks
    out = bench.step(reading(buttons=(True, True)))
    assert out.edge == arb.EDGE_TAKEOVER and out.intervention_id == 1
    # Contact bounce: release/press on the next ticks must not hand back.
    for buttons in ((False, False), (True, False), (False, False), (False, True)):
        assert bench.step(reading(buttons=buttons)).source == arb.SOURCE_HUMAN
    bench.step(reading())
    out = bench.step(reading(buttons=(False, True)))  # 6 ticks after the press: a real one
    assert out.edge == arb.EDGE_HANDBACK


def test_stale_devices_while_human_hold_the_last_command_until_a_press():
    bench = Bench()
    bench.press()
    for _ in range(10):
        out = bench.step(reading(fingers=(0.5, 0.5, 0.5)))
    last = out.command
    out = bench.step(reading(fingers=(1.5, 1.5, 1.5)), glove_age=0.5)
    assert (out.source, out.edge, out.reason) == (arb.SOURCE_SAFETY_HOLD, arb.EDGE_HOLD, arb.REASON_STALE_INPUT)
    np.testing.assert_array_equal(out.command, last)
    assert not bench.arbiter.teleop.engaged
    out = bench.arbiter.step(bench.t * DT, bench.measured, bench.policy, None)  # no device data at all
    assert out.source == arb.SOURCE_SAFETY_HOLD
    bench.t += 1
    for _ in range(5):  # devices fresh again: still holding, nobody pressed
        out = bench.step(reading(fingers=(1.5, 1.5, 1.5)))
        assert out.source == arb.SOURCE_SAFETY_HOLD
        np.testing.assert_array_equal(out.command, last)
    out = bench.press()
    assert (out.source, out.edge, out.intervention_id) == (arb.SOURCE_HUMAN, arb.EDGE_TAKEOVER, 2)


def test_stale_policy_holds_and_resumes_when_fresh():
    bench = Bench()
    bench.step()
    out = bench.step(policy=None)
    assert (out.source, out.edge, out.reason) == (arb.SOURCE_SAFETY_HOLD, arb.EDGE_HOLD, arb.REASON_STALE_INPUT)
    assert bench.step(policy_age=1.0).source == arb.SOURCE_SAFETY_HOLD  # old command = stale
    out = bench.step()
    assert (out.source, out.edge, out.resume_policy) == (arb.SOURCE_POLICY, arb.EDGE_HANDBACK, True)


def test_handback_without_a_fresh_policy_holds():
    bench = Bench()
    bench.press()
    for _ in range(10):
        bench.step()
    out = bench.step(reading(buttons=(True, False)), policy=None)
    assert (out.source, out.edge, out.reason) == (arb.SOURCE_SAFETY_HOLD, arb.EDGE_HOLD, arb.REASON_STALE_INPUT)


def test_estop_latches_over_buttons_until_reset():
    bench = Bench()
    out = bench.step(reading(buttons=(True, False)), estop=True)  # press and e-stop on one tick
    assert (out.source, out.edge, out.reason, out.intervention_id) == (arb.SOURCE_SAFETY_HOLD, arb.EDGE_HOLD,
                                                                      arb.REASON_ESTOP, 0)
    for k in range(20):  # presses, the e-stop released, a fresh policy: still holding
        out = bench.step(reading(buttons=(k % 10 == 0, False)))
        assert out.source == arb.SOURCE_SAFETY_HOLD and out.edge == arb.EDGE_NONE
    bench.arbiter.start_episode(bench.measured, now=bench.t * DT)  # a new episode keeps the latch
    assert bench.step().source == arb.SOURCE_SAFETY_HOLD
    bench.arbiter.reset_estop()
    assert bench.step().source == arb.SOURCE_SAFETY_HOLD  # reset alone moves nothing
    out = bench.press()
    assert (out.source, out.edge, out.intervention_id) == (arb.SOURCE_HUMAN, arb.EDGE_TAKEOVER, 1)


def test_episode_start_clears_counters():
    bench = Bench()
    bench.press()
    bench.arbiter.start_episode(bench.measured, now=bench.t * DT)
    out = bench.step()
    assert (out.source, out.intervention_id, out.reason, out.tick) == (arb.SOURCE_POLICY, 0,
                                                                      arb.REASON_EPISODE_BOUNDARY, 0)
    assert not bench.arbiter.teleop.engaged


def test_a_button_held_across_an_episode_start_is_not_a_press():
    bench = Bench()
    assert bench.press().edge == arb.EDGE_TAKEOVER
    bench.arbiter.start_episode(bench.measured, now=bench.t * DT)
    for _ in range(10):  # still held
        assert bench.press().source == arb.SOURCE_POLICY
    bench.step()
    assert bench.press().edge == arb.EDGE_TAKEOVER  # released and pressed again: a press
