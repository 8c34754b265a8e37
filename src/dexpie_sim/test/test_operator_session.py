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
from dexpie_sim.stages import StageLibrary
from dexpie_teleop.arbiter import (EDGE_HANDBACK, EDGE_TAKEOVER, REASON_BUTTON, REASON_NAMES, SOURCE_HUMAN,
                                   SOURCE_POLICY, InterventionArbiter)
from dexpie_teleop.arbiter_inputs import ArbiterInputs
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


class GraphAroundAReset:
    """The twin, the sim_operator's session and the arbiter node's cores (ArbiterInputs +
    InterventionArbiter), with the message orders of the graph made explicit: at an episode
    boundary the client resets the twin, then the recorder announces START, which the
    arbiter and the operator each see at their own moment."""

    def __init__(self, takeover_mode: str = "never"):
        self.task = make_task("relocate")
        self.library = StageLibrary(self.task, make_operator("relocate", self.task, seed=0))
        self.session = OperatorSession("relocate", SessionConfig(takeover_mode))
        self.arbiter = InterventionArbiter(self.task.make_teleop())
        self.inputs = ArbiterInputs(len(self.task.spec.joint_names), len(self.task.spec.finger_joints))
        self.now = 0.0
        self.takeovers: list[tuple[int, str]] = []

    def arbiter_sees_start(self) -> None:        # what intervention_arbiter_node does on START
        self.inputs.start_episode()
        self.arbiter.start_episode(self.inputs.measured, now=self.now)

    def operator_sees_start(self, seed: int) -> None:   # what sim_operator_node does on START
        self.session.episode_started(seed)

    def tick(self, policy_fingers: np.ndarray, policy_first: bool) -> None:
        """One control tick; policy_first: the policy's command reaches the arbiter (and makes
        it tick) before the operator's device readings of this tick do."""
        self.now += 1 / 30
        state = twin_state(self.task)
        self.inputs.set_measured(state.joint_positions)
        n_arm = len(self.task.spec.arm_joints)
        policy = np.r_[state.joint_positions[:n_arm], policy_fingers]
        self.inputs.set_policy(policy, self.now)

        def operator():
            signals = self.session.tick(state.joint_positions, state.object_state, state.joint_velocities,
                                        self.task.tick, self.task.seed)
            self.inputs.set_glove(signals.fingers, self.now)
            self.inputs.set_joy(list(signals.axes), list(signals.buttons), self.now)

        def arbiter():
            reading, glove_age, spacemouse_age = self.inputs.device_reading(self.now)
            out = self.arbiter.step(self.now, self.inputs.measured, policy, reading,
                                    glove_age=glove_age, spacemouse_age=spacemouse_age)
            self.session.set_arbiter_source(out.source)
            if out.edge == EDGE_TAKEOVER:
                self.takeovers.append((self.task.tick, REASON_NAMES[out.reason]))
            return out

        if policy_first:
            out = arbiter()
            operator()
        else:
            operator()
            out = arbiter()
        self.task.step(out.command)


@pytest.mark.parametrize("arbiter_start, operator_start", [(0, 0), (0, 3), (2, 2), (2, 6)])
def test_an_operator_that_never_moves_never_takes_over_across_scene_resets(arbiter_start, operator_start):
    """Fault session: with operator:=never the arbiter logged "human in control (device_motion)"
    right after a scene reset. The mechanism (reproduced here before the fix: a device-motion
    takeover at tick 3 of every episode after the first in the orders (0, 0) and (0, 3), and
    at tick 5 in (2, 6) when the operator's START also re-placed its hand): START reached the
    arbiter before the operator's first reading of the new scene, the policy's command made
    the arbiter tick first, and the glove's rest was anchored on the old scene's resting
    glove; the operator's resting hand, placed for the new scene, then read as a glove moved
    away from its rest and from the policy's fingers. arbiter_start / operator_start: the
    tick of the new scene before which each of them sees START."""
    graph = GraphAroundAReset("never")
    fingers = {}
    for stage, seed in [("grasped", 0), ("init", 1), ("grasped", 2), ("init", 3)]:
        graph.library.reset(seed, stage)
        fingers[seed] = np.asarray(graph.task.target)[len(graph.task.spec.arm_joints):].copy()
        # A policy reaching for the last scene's finger posture: far from this scene's.
        policy_fingers = fingers.get(seed - 1, fingers[seed])
        for tick in range(30):
            if tick == arbiter_start:
                graph.arbiter_sees_start()
            if tick == operator_start:
                graph.operator_sees_start(seed)
            graph.tick(policy_fingers, policy_first=True)
    assert graph.takeovers == []


def test_start_leaves_the_resting_glove_where_the_reset_placed_it():
    """A START seen after the twin's reset (status tick back to 0) does not move the operator's
    resting glove again, though the hand has moved since (here it closed): the arbiter may
    already have anchored the glove's rest on the readings between the reset and START."""
    task = make_task("relocate")
    library = StageLibrary(task, make_operator("relocate", task, seed=0))
    session = OperatorSession("relocate", SessionConfig("never"))
    n_arm = len(task.spec.arm_joints)
    library.reset(0, "grasped")
    closed = np.asarray(task.target).copy()
    for _ in range(3):
        state = twin_state(task)
        session.tick(state.joint_positions, state.object_state, state.joint_velocities, task.tick, 0)
        task.step(task.target)
    library.reset(1, "init")                              # the twin's tick goes back: a reset
    readings = []
    for tick in range(12):
        if tick == 8:
            session.episode_started(1)                    # the recorder's START
        state = twin_state(task)
        readings.append(session.tick(state.joint_positions, state.object_state, state.joint_velocities,
                                     task.tick, 1).fingers)
        task.step(np.r_[state.joint_positions[:n_arm], closed[n_arm:]])   # the hand closes meanwhile
    readings = np.array(readings)
    moved = np.max(np.abs(twin_state(task).joint_positions[n_arm:] - readings[0]))
    assert moved > 0.35                                   # the hand has moved a takeover's worth
    noise = 4 * session.operator.config.glove_noise_std
    assert np.max(np.abs(readings - readings[0])) < 2 * noise, np.max(np.abs(readings - readings[0]))
