"""HandTwin, the core of sim_hand: commands, the control tick, resets, status, divergence."""
import numpy as np
import pytest

from dexpie_sim.hand_twin import HandTwin


@pytest.fixture(scope="module")
def twin():
    twin = HandTwin("relocate", seed=0)
    yield twin
    twin.close()


def test_a_command_is_held_and_moves_the_joint(twin):
    twin.reset("relocate", "init", 0)
    start = twin.observe().joint_positions
    target = start.copy()
    target[1] = 0.15                              # ARTy, the lift slide
    assert twin.command(target) is None
    for _ in range(10):
        observation = twin.tick()
    assert abs(observation.joint_positions[1] - 0.15) < 0.5 * abs(start[1] - 0.15)
    np.testing.assert_array_equal(twin.task.target, target)


def test_bad_commands_are_refused_and_the_target_kept(twin):
    twin.reset("relocate", "init", 0)
    good = twin.observe().joint_positions
    assert twin.command(good) is None
    assert "has 3 values, expected 30" in twin.command([0.0, 0.0, 0.0])
    bad = good.copy()
    bad[7] = np.nan
    assert "not finite at joint(s) ['WRJ0']" in twin.command(bad)
    twin.tick()
    np.testing.assert_array_equal(twin.task.target, good)


def test_reset_to_a_named_stage_and_refusals_naming_the_valid_ones(twin):
    result = twin.reset("relocate", "pre_grasp", 3)
    assert result.success and twin.task.stage_reached() == "pre_grasp"
    np.testing.assert_array_equal(result.joint_positions, twin.observe().joint_positions)
    status = twin.status()
    assert status == {"task": "relocate", "stage": "pre_grasp", "seed": 3, "tick": 0, "success": False,
                      "timed_out": False, "start_stage": "pre_grasp", "diverged": False}
    twin.tick()
    assert twin.status()["tick"] == 1
    refused = twin.reset("relocate", "airborne", 3)
    assert not refused.success and "['init', 'pre_grasp', 'grasped', 'lifted']" in refused.message
    refused = twin.reset("door", "init", 3)
    assert not refused.success and "runs task 'relocate'" in refused.message
    assert not twin.reset("relocate", "init", -1).success
    assert twin.status()["start_stage"] == "pre_grasp"   # refusals leave the scene alone


def test_a_reset_drops_the_pending_command(twin):
    twin.reset("relocate", "init", 0)
    twin.command(twin.observe().joint_positions + 0.05)
    twin.reset("relocate", "init", 1)
    restored = twin.task.target.copy()
    twin.tick()
    np.testing.assert_array_equal(twin.task.target, restored)


def test_divergence_ends_the_episode_without_an_exception(twin):
    twin.reset("relocate", "init", 0)
    twin.task.data.qvel[:] = 1e15                 # the physics blows up on the next step
    observation = twin.tick()
    assert np.all(np.isfinite(observation.joint_positions))
    status = twin.status()
    assert status["timed_out"] and status["diverged"]
    assert "physics diverged at tick 1" in twin.divergence
    twin.tick()                                   # keeps being simulated
    assert twin.reset("relocate", "init", 0).success
    assert not twin.status()["timed_out"] and twin.divergence == ""


def test_unknown_cameras_and_stages_are_refused_at_construction():
    with pytest.raises(ValueError, match="no camera"):
        HandTwin("relocate", cameras=("nope",))
    with pytest.raises(ValueError, match="no stage 'x'"):
        HandTwin("relocate", start_stage="x")
