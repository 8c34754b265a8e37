"""LockstepGate: the twin steps only once the chain answered, with its fallbacks."""
import pytest

from dexpie_sim.lockstep import ANSWERED_STREAK, LockstepGate, LockstepTiming

TIMING = LockstepTiming(short_wait_s=0.01, answer_timeout_s=2.0, start_timeout_s=5.0)


def answered_tick(gate, stamp, now):
    gate.published(stamp, now)
    gate.state_received(stamp)
    gate.command_received()
    assert gate.may_step(now + 0.001)


def test_a_tick_waits_for_the_arbiter_state_of_its_stamp_and_a_controller_command():
    gate = LockstepGate(TIMING)
    assert gate.may_step(0.0), "nothing published yet: step"
    for k in range(ANSWERED_STREAK):
        answered_tick(gate, k, float(k))
    gate.published(100, 10.0)
    assert not gate.may_step(10.5)
    gate.state_received(99)            # an older tick's state does not answer this one
    gate.command_received()
    assert not gate.may_step(10.6)
    gate.state_received(100)
    assert gate.may_step(10.7)
    assert gate.answered_ticks == ANSWERED_STREAK + 1 and gate.unanswered_ticks == 0


def test_the_command_alone_or_the_state_alone_is_not_an_answer():
    gate = LockstepGate(TIMING)
    for k in range(ANSWERED_STREAK):
        answered_tick(gate, k, float(k))
    gate.published(7, 10.0)
    gate.state_received(7)
    assert not gate.may_step(11.0)
    gate.published(8, 20.0)
    gate.command_received()
    assert not gate.may_step(21.0)


def test_a_chain_that_answers_waits_the_long_timeout_then_steps_and_counts_it():
    gate = LockstepGate(TIMING)
    for k in range(ANSWERED_STREAK):
        answered_tick(gate, k, float(k))
    gate.published(10, 100.0)
    assert not gate.may_step(101.9)
    assert gate.may_step(102.0)
    assert gate.unanswered_ticks == 1
    # After an unanswered tick the next waits only the short wait (a dead policy: the
    # fallback timers must see simulated time move at the wall pace).
    gate.published(11, 103.0)
    assert not gate.may_step(103.005)
    assert gate.may_step(103.02)
    assert gate.unanswered_ticks == 2


def test_start_up_uses_the_short_wait_until_a_streak_of_answers_and_episodes_keep_the_long_one():
    gate = LockstepGate(TIMING)
    gate.published(0, 0.0)
    assert gate.may_step(0.02), "start-up: nobody answers yet"
    for k in range(1, ANSWERED_STREAK):
        answered_tick(gate, k, float(k))
    gate.published(50, 50.0)
    assert gate.may_step(50.02), f"{ANSWERED_STREAK - 1} answers are not a streak yet"
    for k in range(ANSWERED_STREAK):
        answered_tick(gate, 60 + k, 60.0 + k)
    gate.reset(70.0)
    gate.episode_started()
    gate.published(80, 80.0)
    assert not gate.may_step(81.0), "an episode's first tick waits for its answer (the policy's first chunk)"
    gate.state_received(80)
    gate.command_received()
    assert gate.may_step(81.5)


def test_after_a_reset_the_twin_stands_still_until_the_episode_starts():
    gate = LockstepGate(TIMING)
    gate.published(1, 0.0)
    gate.reset(1.0)
    assert gate.holding_for_start
    assert not gate.may_step(1.1) and not gate.may_step(5.9)
    gate.episode_started()
    assert gate.may_step(6.0) and not gate.holding_for_start
    assert gate.unanswered_ticks == 0, "the tick pending at the reset is not counted"


def test_without_an_episode_start_the_twin_ticks_again_after_the_start_timeout():
    gate = LockstepGate(TIMING)
    gate.reset(10.0)
    assert not gate.may_step(14.99)
    assert gate.may_step(15.0)
    assert not gate.holding_for_start


@pytest.mark.parametrize("field", ["short_wait_s", "answer_timeout_s", "start_timeout_s"])
def test_timing_must_be_positive(field):
    values = dict(short_wait_s=0.1, answer_timeout_s=1.0, start_timeout_s=1.0)
    values[field] = 0.0
    with pytest.raises(ValueError, match=field):
        LockstepTiming(**values)


def test_once_an_operator_is_heard_its_reaction_to_the_tick_is_awaited_too():
    gate = LockstepGate(TIMING)
    for k in range(ANSWERED_STREAK):
        answered_tick(gate, k, float(k))
    gate.operator_received(2)          # the operator exists from now on
    gate.published(10, 10.0)
    gate.state_received(10)
    gate.command_received()
    assert not gate.may_step(10.5), "the operator's reaction to tick 10 is still missing"
    gate.operator_received(9)
    assert not gate.may_step(10.6)
    gate.operator_received(10)
    assert gate.may_step(10.7)


def test_a_node_not_heard_from_yet_is_not_waited_for_the_others_are():
    """The controller still connecting (discovery on a busy machine): the arbiter's state and
    the person's reaction answer the tick; once the controller is heard, it counts too."""
    gate = LockstepGate(TIMING)
    gate.published(1, 1.0)
    assert gate.may_step(1.02) and gate.unanswered_ticks == 1, "nobody heard from: start-up pace"
    gate.published(2, 2.0)
    gate.state_received(2)
    gate.operator_received(2)
    assert gate.may_step(2.001) and gate.answered_ticks == 1
    for k in range(3, 3 + ANSWERED_STREAK):
        gate.published(k, float(k))
        gate.state_received(k)
        assert not gate.may_step(k + 0.001), "the person's reaction is awaited"
        gate.operator_received(k)
        assert gate.may_step(k + 0.002)
    gate.command_received()                 # the controller is up (a command between ticks)
    gate.published(10, 10.0)
    gate.state_received(10)
    gate.operator_received(10)
    assert not gate.may_step(11.0), "now the controller's command is awaited too"
    gate.command_received()
    assert gate.may_step(11.1)
