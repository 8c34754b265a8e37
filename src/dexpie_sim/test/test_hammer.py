"""Hammer task: scene, seeded randomisation, exact snapshots, success and stages, operator."""
import mujoco
import numpy as np
import pytest

from dexpie_sim.operator_rollout import run_operator_episode
from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.stages import StageLibrary, reach_stage


@pytest.fixture(scope="module")
def task():
    t = make_task("hammer", image_size=64)
    yield t
    t.close()


@pytest.fixture(scope="module")
def library(task):
    return StageLibrary(task, make_operator("hammer", task, seed=0))


def test_spec_names_every_arm_and_finger_joint(task):
    spec = task.spec
    assert spec.stages[0] == "init" and len(spec.stages) == 4
    assert spec.arm_joints == ("ARTx", "ARTy", "ARTz", "ARRx", "ARRy")
    assert len(spec.finger_joints) == 24
    assert task.object_state().shape == (len(spec.object_names),)


def test_seeded_reset_is_deterministic_and_seeds_differ(task):
    a = task.reset(11).object_state.copy()
    board_a = task.model.body_pos[task._board].copy()
    b = task.reset(11).object_state.copy()
    assert np.array_equal(a, b)
    assert np.array_equal(board_a, task.model.body_pos[task._board])
    c = task.reset(12).object_state.copy()
    assert not np.allclose(a, c)
    assert not np.allclose(board_a, task.model.body_pos[task._board])


def test_initial_state_is_init_and_not_solved(task):
    task.reset(3)
    for _ in range(5):
        task.step(task.target)
    assert task.stage_reached() == "init"
    assert not task.is_success()
    assert task.hand_contacts()[2]          # the hammer rests on the table


def test_success_needs_the_nail_driven_in(task):
    for depth, solved in ((0.0, False), (0.07, False), (0.085, True)):
        task.reset(5)
        task.data.qpos[task._nail_qpos] = depth
        task.data.qvel[:] = 0.0
        mujoco.mj_forward(task.model, task.data)
        assert task.is_success() == solved, depth


def test_twist_maps_world_motion_to_the_slides(task):
    task.reset(0)
    site = task.data.site_xpos[task._grasp_site].copy()
    twist = np.array([0.2, 0.0, 0.1, 0.0, 0.0, 0.0])
    target = task.target.copy()
    target[:5] += task.twist_to_joint() @ twist * 0.3
    for _ in range(30):
        task.step(target)
    moved = task.data.site_xpos[task._grasp_site] - site
    assert moved[0] == pytest.approx(0.06, abs=0.01)
    assert moved[2] == pytest.approx(0.03, abs=0.01)
    assert abs(moved[1]) < 0.01


def test_snapshot_restore_is_exact(task, library):
    snap = library.get(21, "grasped")
    task.restore(snap)
    q0, v0, o0 = task.data.qpos.copy(), task.data.qvel.copy(), task.object_state()
    targets = [task.target + 0.02 * np.sin(0.3 * k) for k in range(10)]
    first = [task.step(tg).object_state.copy() for tg in targets]
    task.reset(99)                                  # move away (other board position too)
    task.restore(snap)
    assert np.array_equal(task.data.qpos, q0) and np.array_equal(task.data.qvel, v0)
    assert np.array_equal(task.object_state(), o0)
    second = [task.step(tg).object_state.copy() for tg in targets]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_stages_hold_where_they_are_saved(task, library):
    for stage in task.spec.stages[1:]:
        task.restore(library.get(21, stage))
        reached = task.spec.stages.index(task.stage_reached())
        assert reached >= task.spec.stages.index(stage)
        assert task.is_held()


@pytest.mark.parametrize("seed", [31, 32])
def test_operator_solves_from_every_stage(task, library, seed):
    operator = make_operator("hammer", task, seed=1)
    for stage in task.spec.stages:
        result = run_operator_episode(library, operator, seed, stage)
        assert result.success, (seed, stage, result.steps)


def test_dropped_hammer_makes_the_watcher_take_over(task, library):
    operator = make_operator("hammer", task, seed=1)
    task.restore(library.get(21, "grasped"))
    operator.reset(0)
    assert not operator.wants_takeover(operator.perceive())
    open_hand = task.target.copy()
    open_hand[5:] = 0.0
    for _ in range(30):
        task.step(open_hand)
    assert not task.is_held()
    assert operator.wants_takeover(operator.perceive())


def test_render_named_cameras(task):
    task.reset(0)
    for camera in ("side", "fixed"):
        image = task.render(camera)
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert image.std() > 0
