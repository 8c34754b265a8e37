"""The whole sim graph as separate processes (dexpie-launch's supervisor) with a tiny trained
policy: two recorded episodes, one with a scripted takeover by the simulated operator, then a
fault: policy_server killed mid-episode and restarted. Every wait is on a topic or a service."""
import signal
import time

import numpy as np
import pytest

from dexpie_episode import read_episode

from graph_harness import Monitor, limits, start_sim_graph, train_tiny_policy

TASK = "relocate"
TAKEOVER_TICK, HANDBACK_TICK = 20, 45
SOURCE_POLICY, SOURCE_HUMAN, SOURCE_HOLD = 0, 1, 2
EDGE_TAKEOVER, EDGE_HANDBACK = 1, 2


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    work = tmp_path_factory.mktemp("graph")
    checkpoint = train_tiny_policy(TASK, work)
    supervisor, transcript = start_sim_graph(
        TASK, checkpoint, work / "episodes", work / "logs", operator="scripted",
        extra=[("sim_operator", "scripted_takeover_tick", TAKEOVER_TICK),
               ("sim_operator", "scripted_handback_tick", HANDBACK_TICK)])
    params = limits(TASK)
    monitor = Monitor(params["hand_controller"]["joint_names"])
    try:
        # The graph is up once the policy answers observations and the arbiter ticks (model
        # loaded and warm, every subscription matched).
        monitor.spin_until(lambda: len(monitor.wires.policy_commands) >= 5 and len(monitor.wires.states) >= 5,
                           180, "the policy's first commands and the arbiter's ticks")
        yield supervisor, monitor, params, work, transcript
    finally:
        monitor.close()
        codes = supervisor.stop()
        print(transcript.getvalue()[-20000:])
        assert all(code == 0 for name, code in codes.items() if name != "policy_server"), codes


def window(records, start, end):
    return [r for r in records if start <= r[0] <= end]


def check_controller_within_limits(commands, params):
    control = params["hand_controller"]
    lower, upper = np.array(control["lower_limits"]), np.array(control["upper_limits"])
    max_step = np.array(control["max_velocity"]) / control["rate_hz"]
    values = np.array([c[2] for c in commands])
    assert values.shape[1] == len(lower)
    assert np.all(values >= lower - 1e-9) and np.all(values <= upper + 1e-9), "controller left the joint limits"
    steps = np.abs(np.diff(values, axis=0))
    assert np.all(steps <= max_step + 1e-9), f"rate limit exceeded by {np.max(steps - max_step):.4f}"


def test_two_episodes_recorded_with_a_takeover_and_handback(graph):
    supervisor, monitor, params, work, transcript = graph
    begin = time.monotonic()
    short = monitor.client.run_episode(TASK, "init", seed=7, max_ticks=TAKEOVER_TICK - 8, timeout=300)
    middle = time.monotonic()
    long = monitor.client.run_episode(TASK, "init", seed=8, max_ticks=HANDBACK_TICK + 25, timeout=300)
    end = time.monotonic()
    assert not supervisor.dead(), transcript.getvalue()[-5000:]

    first = read_episode(short.bag_path)
    second = read_episode(long.bag_path)
    assert (first.meta.task, first.meta.seed, second.meta.seed) == (TASK, 7, 8)
    assert len(first.intervention) >= TAKEOVER_TICK - 12 and not np.any(first.intervention)
    flags = np.asarray(second.intervention, bool)
    assert flags.any() and not flags.all(), "the second episode must mix policy and human ticks"
    human = np.flatnonzero(flags)
    # The press comes at the twin's tick TAKEOVER_TICK. On the twin's lockstep clock the bag
    # counts the arbiter's ticks, one per twin tick from the scene's first on (the twin waits
    # for the chain's answer and the person's reaction before the next), give or take a tick
    # where a late policy answer and a fallback tick meet, and the arbiter acts on a press
    # once its message reaches it (devices are asynchronous to the chain). Seen at load 4-12
    # on 2 cores: 19..24; before the lockstep clock, 3 under load.
    assert TAKEOVER_TICK - 2 <= human[0] <= TAKEOVER_TICK + 4, human[0]
    assert np.all(np.diff(human) == 1), "one contiguous takeover"
    assert human[-1] < len(flags) - 1, "control went back to the policy"

    states = window(monitor.wires.states, middle, end)
    # the second episode's ticks: from its tick 0 on (earlier states may still be in flight)
    states = states[max(i for i, st in enumerate(states) if st[2][4] == 0):]
    # The human's edges. A HANDBACK straight after a safety hold is the policy resuming (its
    # first chunk after the episode's reset can come later than the staleness limit on a
    # loaded machine), not the human handing back; it must still be smooth (checked below).
    edges = [now[2][1] for before, now in zip(states, states[1:])
             if now[2][1] == EDGE_TAKEOVER
             or (now[2][1] == EDGE_HANDBACK and before[2][0] == SOURCE_HUMAN)]
    assert edges == [EDGE_TAKEOVER, EDGE_HANDBACK], states
    # No jump at the switches: on the edge tick and through the blend every per-tick command
    # change is within the arbiter's max_transition_step.
    max_transition = params["intervention_arbiter"].get("max_transition_step", 0.1)
    # In publication order (one publisher: DDS keeps it): a fallback tick and a late policy
    # command can answer the same observation, two ticks whose stamps differ by a nanosecond.
    commands = window(monitor.wires.hand_commands, middle, end)
    for state in states:
        if state[2][1] in (EDGE_TAKEOVER, EDGE_HANDBACK):
            i = next(j for j, c in enumerate(commands) if c[1] >= state[1] - 1e-6)
            blend = np.array([c[2] for c in commands[max(i - 1, 0): i + 8]])
            assert np.max(np.abs(np.diff(blend, axis=0))) <= max_transition + 1e-9
    check_controller_within_limits(window(monitor.wires.controller_commands, begin, end), params)


def test_policy_server_killed_mid_episode_hand_holds_then_resumes(graph):
    supervisor, monitor, params, work, transcript = graph
    client = monitor.client
    from dexpie_msgs.srv import EndEpisode
    client.reset_scene(TASK, "init", 9)
    started = client.start_episode(TASK, "init", 9)
    begin = time.monotonic()
    wires = monitor.wires
    # The scripted operator takes over at TAKEOVER_TICK and hands back at HANDBACK_TICK: kill
    # the policy once it is back in control, so that no later button press ends the hold.
    def policy_ticks_after_handback():
        states = window(wires.states, begin, 1e18)
        starts = [i for i, st in enumerate(states) if st[2][4] == 0]
        if not starts:
            return False
        states = states[starts[-1]:]          # this episode's ticks only
        back = [i for i, s in enumerate(states) if s[2][1] == EDGE_HANDBACK]
        return back and sum(s[2][0] == SOURCE_POLICY for s in states[back[0]:]) >= 5

    # Deadlines in wall time are generous: on the lockstep clock a busy machine slows the
    # episode down (every tick waits for the chain and the person) rather than changing it.
    monitor.spin_until(policy_ticks_after_handback, 300, "5 policy ticks after the scripted hand-back")
    supervisor.kill("policy_server", signal.SIGKILL)
    killed = time.monotonic()
    last_policy_stamp = max(s[1] for s in wires.states if s[2][0] == SOURCE_POLICY)
    watchdog = params["hand_controller"].get("watchdog_timeout", 0.2)
    policy_timeout = params["intervention_arbiter"]["policy_timeout"]
    monitor.spin_until(lambda: any(s[2][0] == SOURCE_HOLD for s in window(wires.states, killed, 1e18)),
                       30, "the arbiter to hold after the policy died")
    held_stamp = min(s[1] for s in window(wires.states, killed, 1e18) if s[2][0] == SOURCE_HOLD)
    # The graph runs on the twin's simulated clock (lockstep): the hold comes after the
    # arbiter's policy timeout in simulated time, whatever the machine's load did to wall time.
    period = 1.0 / params["intervention_arbiter"]["rate_hz"]
    assert held_stamp - last_policy_stamp <= policy_timeout + 2 * period + 1e-6
    # The hand holds: the controller finishes the last rate-limited step toward the held
    # target, then every command is the same position.
    hold_start = time.monotonic()
    monitor.spin_until(lambda: len(window(wires.controller_commands, hold_start, 1e18)) >= 20, 120,
                       "20 controller commands while holding")
    held = np.array([c[2] for c in window(wires.controller_commands, hold_start, 1e18)])[-10:]
    assert np.max(np.abs(held - held[0])) < 1e-9, "the hand moved while the policy was dead"

    supervisor.restart("policy_server")
    restarted = time.monotonic()
    monitor.spin_until(lambda: any(s[2][0] == SOURCE_POLICY for s in window(wires.states, restarted, 1e18)),
                       180, "the policy to resume control after the restart")
    # Control resumes when the hand leaves the held position. The arbiter's switch and the
    # hand's first move can be a few ticks apart: on hand-back the policy server drops its queue
    # and infers a fresh chunk, which on a loaded 2-core runner took longer than the 10 ticks an
    # earlier version of this test allowed (the controller held on its watchdog meanwhile).
    def hand_moved_off_hold():
        after = window(wires.controller_commands, restarted, 1e18)
        return any(np.max(np.abs(np.asarray(c[2]) - held[-1])) > 1e-6 for c in after)

    monitor.spin_until(hand_moved_off_hold, 120, "the hand to move under the restarted policy")
    ended = client.call(client.end_client, EndEpisode.Request(outcome=2, note="fault test"))
    assert ended.episode_id == started.episode_id
    episode = read_episode(ended.bag_path)
    assert len(episode.intervention) == ended.num_steps and ended.num_steps > 20
    check_controller_within_limits(window(wires.controller_commands, begin, time.monotonic()), params)
    assert client.status.get("seed") == 9 and client.status.get("task") == TASK
