"""Every in-process loop runs the robot's control chain: the hand executes the hand
controller's target (limits, rate limit), the recorded command is the arbiter's, and the
reports count where the limits acted."""
import numpy as np
import pytest

from dexpie_episode import (EDGE_NONE, EDGE_TAKEOVER, REASON_EPISODE_BOUNDARY, SOURCE_HUMAN, SOURCE_POLICY,
                            read_episode)
from dexpie_experiment.dagger import collect_dagger_round
from dexpie_experiment.evaluation import run_policy_episode
from dexpie_experiment.sim_collection import record_operator_demo
from dexpie_policy.scheduler import ChunkScheduler
from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.stages import StageLibrary
from dexpie_sim.twin_chain import twin_control_chain, twin_hand_controller

TASK = "relocate"


class JumpPredictor:
    """A policy that asks for the first arm joint 0.2 away from the observed pose at once:
    far beyond what the hand controller lets it move in one tick."""

    def __init__(self, lower, upper, horizon=8):
        self.lower, self.upper, self.horizon = lower, upper, horizon

    def predict_chunk(self, observation, prefix_targets):
        target = np.asarray(observation.joint_positions, float).copy()
        target[0] += 0.2 if target[0] + 0.2 <= self.upper[0] else -0.2
        return np.tile(np.clip(target, self.lower, self.upper), (self.horizon, 1))


@pytest.fixture
def task():
    task = make_task(TASK)
    yield task
    task.close()


def executed_targets(task):
    """Record what the task is asked to execute on each step."""
    executed, step = [], task.step

    def recording_step(target):
        executed.append(np.array(target, float))
        return step(target)

    task.step = recording_step
    return executed


def test_evaluation_executes_the_hand_controllers_target_and_counts_the_rate_limit(task):
    limits = twin_hand_controller(TASK).limits
    scheduler = ChunkScheduler.simulated(JumpPredictor(limits.lower, limits.upper), latency_ticks=0)
    chain = twin_control_chain(TASK, task.make_teleop(), scheduler=scheduler)
    executed = executed_targets(task)
    result = run_policy_episode(task, chain, seed=3)
    steps = np.abs(np.diff(np.asarray(executed), axis=0))
    assert np.all(steps <= limits.max_velocity * task.spec.control_dt + 1e-9)
    assert result.rate_limited_ticks > 0 and result.clipped_ticks >= result.rate_limited_ticks
    assert result.safety_hold_ticks == 0
    # The policy's own steps (the smoothness figures) still show the jump it asked for.
    assert result.max_step > 0.15


def test_demonstrations_record_the_arbiters_command_and_pass_the_limits_unchanged(task, tmp_path):
    library = StageLibrary(task, make_operator(TASK, task, seed=0))
    operator = make_operator(TASK, task, seed=1)
    recorded = record_operator_demo(library, operator, 21, tmp_path)
    episode = read_episode(recorded.path)
    assert recorded.success and recorded.human_steps == recorded.steps == episode.num_ticks
    # The teleop graph's arbiter in human-only mode: the first tick hands the episode to the
    # human through the clutch (the command is where the hand is), as the live recorder saw it.
    assert episode.edge[0] == EDGE_TAKEOVER and np.all(episode.edge[1:] == EDGE_NONE)
    assert np.all(episode.source == SOURCE_HUMAN) and np.all(episode.intervention_id == 1)
    assert np.all(episode.reason == REASON_EPISODE_BOUNDARY)
    np.testing.assert_allclose(episode.command[0], episode.joint_positions[0], atol=1e-9)
    # The hand controller's speed limits are set above the operator's speeds.
    assert recorded.clipped_ticks == 0


def test_dagger_rollouts_count_where_the_hand_controller_limited_the_policy(tmp_path):
    task = make_task(TASK)
    limits = twin_hand_controller(TASK).limits
    task.close()
    summaries = collect_dagger_round(JumpPredictor(limits.lower, limits.upper), TASK, tmp_path, [500],
                                     stage_mix=0.0, latency_ticks=0, progress=False)
    summary = summaries[0]
    assert summary.rate_limited_steps > 0 and summary.clipped_steps >= summary.rate_limited_steps
    # The recorded command is the arbiter's: the policy's jump is in it, unlimited.
    episode = read_episode(summary.path)
    policy_ticks = episode.source == SOURCE_POLICY
    jumps = np.abs(episode.command[policy_ticks, 0] - episode.joint_positions[policy_ticks, 0])
    assert jumps.max() > 0.15
