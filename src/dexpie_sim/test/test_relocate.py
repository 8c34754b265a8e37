"""Relocate task and operator: seeding, exact stage snapshots, success, stages, operator, render."""
import mujoco
import numpy as np
import pytest

from dexpie_sim.operator_rollout import run_operator_episode
from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.stages import StageLibrary, reach_stage
from dexpie_sim.tasks.relocate import BALL_RADIUS


@pytest.fixture(scope="module")
def task():
    t = make_task("relocate")
    yield t
    t.close()


@pytest.fixture(scope="module")
def library(task):
    return StageLibrary(task, make_operator("relocate", task, seed=0))


def _place_ball(task, position, velocity=(0.0, 0.0, 0.0)):
    """Put the ball's centre at a world position (its free joints are offsets from body_pos)."""
    offset = np.asarray(position) - task.model.body_pos[task.ball_body]
    task.data.qpos[task.ball_dof:task.ball_dof + 3] = offset
    task.data.qvel[task.ball_dof:task.ball_dof + 3] = velocity
    mujoco.mj_forward(task.model, task.data)


def test_spec_is_consistent(task):
    spec = task.spec
    assert spec.stages[0] == "init" and len(spec.stages) == 4
    assert len(spec.arm_joints) == 6 and len(spec.finger_joints) == 24
    obs = task.reset(0)
    assert obs.joint_positions.shape == (30,)
    assert obs.object_state.shape == (len(spec.object_names),)


def test_seeded_reset_is_deterministic_and_seeds_differ(task):
    a = task.reset(3).object_state.copy()
    qpos_a = task.data.qpos.copy()
    b = task.reset(3).object_state.copy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(qpos_a, task.data.qpos)
    c = task.reset(4).object_state.copy()
    assert not np.allclose(a[:3], c[:3])     # ball start
    assert not np.allclose(a[6:9], c[6:9])   # target
    assert abs(c[2] - BALL_RADIUS) < 1e-3     # the ball starts resting on the table
    assert task.stage_reached() == "init" and not task.is_success()


def test_stage_snapshot_restores_exactly(task, library):
    snap = library.get(11, "grasped")
    obs = task.restore(snap)
    assert task.stage_reached() == "grasped"
    task.reset(12)  # another seed moves the randomised ball and target
    obs_again = task.restore(snap)
    np.testing.assert_array_equal(obs.joint_positions, obs_again.joint_positions)
    np.testing.assert_array_equal(obs.joint_velocities, obs_again.joint_velocities)
    np.testing.assert_array_equal(obs.object_state, obs_again.object_state)

    def trajectory():
        task.restore(snap)
        rng = np.random.default_rng(0)
        target = snap.target.copy()
        states = []
        for _ in range(15):
            target = target + rng.normal(0.0, 0.01, target.shape)
            task.step(target)
            states.append(np.concatenate([task.data.qpos, task.data.qvel]))
        return np.array(states)

    np.testing.assert_array_equal(trajectory(), trajectory())


def test_success_needs_the_ball_held_at_the_target(task):
    task.reset(5)
    target = task.target_position()
    _place_ball(task, target + [0.0, 0.0, 0.02])
    assert task.is_success()
    _place_ball(task, target + [0.0, 0.0, 0.02], velocity=(0.0, 0.5, 0.0))
    assert not task.is_success()                      # flying through, not held
    _place_ball(task, target + [0.07, 0.0, 0.0])
    assert not task.is_success()
    task.reset(5)
    assert not task.is_success()


def test_twist_map_moves_the_palm_as_commanded(task):
    task.reset(0)
    m, d = task.model, mujoco.MjData(task.model)
    palm = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "palm")
    arm = task.controller.qpos_adr[:6]
    mujoco.mj_kinematics(m, d)
    start = d.xpos[palm].copy()
    for twist, expected in (([0, 0, 0.1, 0, 0, 0], [0, 0, 0.1]), ([0.1, 0, 0, 0, 0, 0], [0.1, 0, 0]),
                            ([0, 0, 0, 0, 0, 0.3], [0, 0, 0])):
        d.qpos[:] = 0
        d.qpos[arm] = task.twist_to_joint() @ np.array(twist, float) * 0.1   # 0.1 s
        d.qpos[task.controller.qpos_adr[1]] += 0.05   # off the lower limit of the lift slide
        mujoco.mj_kinematics(m, d)
        lift = np.array([0, 0, 0.05])
        np.testing.assert_allclose(d.xpos[palm] - start - lift, np.array(expected) * 0.1, atol=2e-3)


@pytest.mark.parametrize("stage", ["init", "pre_grasp", "grasped", "lifted"])
def test_operator_solves_from_each_stage(task, library, stage):
    operator = make_operator("relocate", task, seed=1)
    for seed in (21, 22):
        result = run_operator_episode(library, operator, seed, stage)
        assert result.success, f"seed {seed} from {stage} failed after {result.steps} steps"


def test_operator_passes_through_the_stages_in_order(task):
    operator = make_operator("relocate", task, seed=2)
    snap = reach_stage(task, operator, seed=30, stage="lifted")
    assert snap.stage == "lifted" and task.ball_clearance() > task.lifted_clearance
    assert task.is_grasped()


def test_takeover_when_the_ball_drops(task, library):
    operator = make_operator("relocate", task, seed=3)
    task.restore(library.get(11, "lifted"))
    operator.reset(0)
    assert not operator.wants_takeover(operator.perceive())   # held: all is well
    target = task.target.copy()
    target[6:] = operator.open_hand   # a policy opening the hand in mid-air
    fired = False
    for _ in range(20):
        task.step(target)
        if operator.wants_takeover(operator.perceive()):
            fired = True
            break
    assert fired and task.ball_clearance() > 0.0   # noticed while the ball was still falling


def test_takeover_when_nothing_progresses(task):
    operator = make_operator("relocate", task, seed=4)
    task.reset(6)
    operator.reset(0)
    fired_at = None
    for tick in range(120):
        task.step(task.target)    # a policy that does nothing
        if operator.wants_takeover(operator.perceive()):
            fired_at = tick
            break
    assert fired_at is not None and fired_at >= operator.patience_ticks


def test_render_from_named_camera():
    task = make_task("relocate", cameras=("fixed",), image_size=64)
    try:
        obs = task.reset(0)
        image = obs.images["fixed"]
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert image.std() > 0
    finally:
        task.close()


def test_operator_recovers_a_dropped_ball(task, library):
    """From a state no stage snapshot covers (a policy opened the hand in mid-air), a fresh
    operator picks the ball up again and finishes."""
    task.restore(library.get(21, "lifted"))
    operator = make_operator("relocate", task, seed=5)
    target = task.target.copy()
    target[6:] = operator.open_hand
    for _ in range(10):
        task.step(target)
    assert task.stage_reached() in ("init", "pre_grasp")
    operator.reset(0)
    operator.teleop.release()
    for _ in range(task.spec.max_episode_steps):
        task.step(operator.act())
        if task.is_success():
            break
    assert task.is_success()
