"""OperatorSession, the core of sim_operator, driven by a twin in-process: it watches
quietly while the policy does fine, takes over and hands back through the real arbiter core
when the policy fails (rule mode), presses at the scripted ticks, and steers from the
mirrored scene well enough to solve the task."""
import mujoco
import numpy as np
import pytest

from dexpie_sim.operator_session import DeviceButton, OperatorSession, SessionConfig
from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.tick_pairing import TickPairer
from dexpie_teleop.arbiter import (EDGE_HANDBACK, EDGE_TAKEOVER, REASON_BUTTON, SOURCE_HUMAN, SOURCE_POLICY,
                                   InterventionArbiter)
from dexpie_teleop.teleop import DeviceReading


def twin_state(task):
    """What sim_hand publishes after a step."""
    mujoco.mj_fwdPosition(task.model, task.data)
    return task.observe()


def test_rule_mode_rests_while_the_policy_does_fine():
    task = make_task("relocate")
    policy = make_operator("relocate", task, seed=5)     # a policy that solves the task
    session = OperatorSession("relocate", SessionConfig("rule"))
    task.reset(0)
    policy.reset(0)
    policy.teleop.release()
    session.start_episode(0)
    deadband = session.teleop.spacemouse.config.deadband
    while not task.is_success():
        assert not task.timed_out
        state = twin_state(task)
        session.set_arbiter_source(SOURCE_POLICY)
        signals = session.tick(state.joint_positions, state.object_state, state.joint_velocities, task.tick, 0)
        assert signals.buttons == (False, False) and not signals.in_control
        assert np.max(np.abs(signals.axes)) < deadband      # the puck rests
        task.step(policy.act())


def test_rule_mode_takes_over_a_stuck_policy_and_hands_back_once_the_stage_advanced():
    task = make_task("relocate")
    arbiter = InterventionArbiter(task.make_teleop())       # the arbiter's own pipeline copy
    session = OperatorSession("relocate", SessionConfig("rule"))
    task.reset(0)
    state = twin_state(task)
    arbiter.start_episode(state.joint_positions)
    session.start_episode(0)
    stuck = task.target.copy()                              # the policy holds still
    edges, stage_at_takeover = [], None
    for tick in range(task.spec.max_episode_steps):
        signals = session.tick(state.joint_positions, state.object_state, state.joint_velocities, task.tick, 0)
        reading = DeviceReading(signals.fingers, signals.axes, signals.buttons)
        out = arbiter.step(tick / 30.0, state.joint_positions, stuck, reading)
        session.set_arbiter_source(out.source)              # seen on the next tick, as on the graph
        if out.edge == EDGE_TAKEOVER:
            edges.append("takeover")
            stage_at_takeover = task.spec.stages.index(task.stage_reached())
            assert out.reason == REASON_BUTTON
        elif out.edge == EDGE_HANDBACK:
            edges.append("handback")
            assert out.reason == REASON_BUTTON
            assert task.spec.stages.index(task.stage_reached()) > stage_at_takeover
            break
        task.step(out.command)
        state = twin_state(task)
    assert edges == ["takeover", "handback"]


def test_steering_from_the_mirror_solves_the_task():
    task = make_task("relocate")
    teleop = task.make_teleop()                             # stands in for the arbiter
    session = OperatorSession("relocate", SessionConfig("scripted", 1000, 2000))
    task.reset(1)
    session.start_episode(1)
    teleop.engage(task.controller.joint_positions(task.data))
    session.set_arbiter_source(SOURCE_HUMAN)
    state = twin_state(task)
    while not task.is_success():
        assert not task.timed_out
        signals = session.tick(state.joint_positions, state.object_state, state.joint_velocities, task.tick, 1)
        assert signals.in_control
        task.step(teleop(DeviceReading(signals.fingers, signals.axes, signals.buttons)))
        state = twin_state(task)


@pytest.mark.parametrize("use_status", [True, False])
def test_scripted_presses_at_the_scripted_ticks(use_status):
    task = make_task("relocate")
    task.reset(0)
    state = twin_state(task)
    session = OperatorSession("relocate", SessionConfig("scripted", 4, 12, press_ticks=2))
    pressed = {}
    for episode in range(2):                                 # a second episode presses again
        if not use_status:
            session.start_episode(episode)
        for tick in range(1, 16):
            signals = session.tick(state.joint_positions, state.object_state,
                                   status_tick=tick if use_status else None, status_seed=episode)
            assert signals.episode_tick == tick
            pressed[episode, tick] = signals.buttons[0]
        assert [t for t in range(1, 16) if pressed[episode, t]] == [4, 5, 12, 13]


def test_never_mode_does_not_steer_even_when_given_control():
    task = make_task("relocate")
    task.reset(0)
    state = twin_state(task)
    session = OperatorSession("relocate", SessionConfig("never"))
    session.set_arbiter_source(SOURCE_HUMAN)
    for tick in range(1, 5):
        signals = session.tick(state.joint_positions, state.object_state, status_tick=tick)
        assert not signals.in_control and signals.buttons == (False, False)


def test_button_holds_presses_and_spaces_them():
    button = DeviceButton(press_ticks=2, min_interval_ticks=4)
    levels = []
    for tick in range(10):
        if tick in (0, 1):                                  # a second press too soon waits
            button.request()
        levels.append(button.level()[0])
    assert levels == [True, True, False, False, True, True, False, False, False, False]


def test_tick_pairer_matches_halves_of_one_stamp():
    pairer = TickPairer()
    assert pairer.add_joints(1, "j1") is None
    assert pairer.add_objects(1, "o1") == ("j1", "o1")
    assert pairer.add_objects(2, "o2") is None
    assert pairer.add_objects(3, "o3") is None              # o2 never got its joints
    assert pairer.add_joints(3, "j3") == ("j3", "o3")
    assert pairer.dropped == 1


def test_in_control_the_operator_steers_from_the_arm_target_the_arbiter_sent():
    """The operator's integrator copy continues from the arm target the arbiter last sent (at
    most one integration step away from it), not from wherever its own copy had got to, so a
    dropped tick between the arbiter and the operator cannot make the two drift apart."""
    task = make_task("relocate")
    task.reset(0)
    state = twin_state(task)
    n_arm = len(task.spec.arm_joints)
    session = OperatorSession("relocate", SessionConfig("rule"))
    session.start_episode(0)
    session.set_arbiter_source(SOURCE_HUMAN)
    session.tick(state.joint_positions, state.object_state, state.joint_velocities, task.tick, 0)
    assert session.in_control
    integrator = session.teleop.integrator
    commanded = np.clip(state.joint_positions[:n_arm] + 0.1, integrator.lower, integrator.upper)
    session.observe_command(commanded)
    session.tick(state.joint_positions, state.object_state, state.joint_velocities, task.tick + 1, 0)
    one_step = integrator.max_joint_speed * session.teleop.dt
    assert np.all(np.abs(integrator.target - commanded) <= one_step + 1e-9)
    assert np.max(np.abs(commanded - state.joint_positions[:n_arm])) > 2 * np.max(one_step)
