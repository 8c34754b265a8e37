"""Put a local copy of a task's scene into the state another process reports (pure: no rclpy).

The simulated operator runs in its own process and sees the twin only through the topics:
joint positions and velocities (/joint_states) and the privileged object state
(/sim/object_state, `TaskSpec.object_names` order). Its planning reads the MuJoCo scene
(site positions, contacts, IK on the model), so it keeps its own copy of the task's model and
`mirror_state()` writes the reported state into it: the robot joints directly, and per task
the object joints and the randomised model fields that the object state determines (ball and
target positions, the door frame's position, the nail board's position...). Everything the
object state determines is reproduced exactly (positions, orientations, contacts, stages,
success); what it does not carry (a ball's spin, friction parameters) is left as it was.

Velocities the object state lacks but an operator reads (the hammer's nail speed) are
estimated from the previous object state over one control period.
"""
from __future__ import annotations

from typing import Callable

import mujoco
import numpy as np

from dexpie_sim.tasks.base import HandTask


class MirrorError(ValueError):
    pass


def mirror_state(task: HandTask, joint_positions, object_state, joint_velocities=None,
                 previous_object_state=None) -> None:
    """Set `task`'s scene to the reported state and recompute it (`mj_forward`: positions,
    contacts). joint_positions / joint_velocities: (J,) in `task.spec.joint_names` order;
    object_state: (K,) in `task.spec.object_names` order. `task.target` is not touched."""
    spec = task.spec
    q = _vector(joint_positions, len(spec.joint_names), "joint_positions")
    objects = _vector(object_state, len(spec.object_names), "object_state")
    qd = np.zeros_like(q) if joint_velocities is None else _vector(joint_velocities, len(q), "joint_velocities")
    previous = None if previous_object_state is None else _vector(previous_object_state, len(objects),
                                                                 "previous_object_state")
    if spec.name not in _MIRRORS:
        raise MirrorError(f"no mirror for task {spec.name!r}; mirrored tasks: {sorted(_MIRRORS)}")
    data = task.data
    data.qpos[task.controller.qpos_adr] = q
    data.qvel[task.controller.dof_adr] = qd
    named = dict(zip(spec.object_names, objects))
    previous_named = None if previous is None else dict(zip(spec.object_names, previous))
    _MIRRORS[spec.name](task, named, previous_named)
    mujoco.mj_forward(task.model, task.data)


def _vector(values, n: int, what: str) -> np.ndarray:
    array = np.asarray(values, float).ravel()
    if array.shape != (n,):
        raise MirrorError(f"{what} has {array.size} values, expected {n}")
    if not np.all(np.isfinite(array)):
        raise MirrorError(f"{what} is not finite")
    return array


def _pick(named: dict, *names: str) -> np.ndarray:
    return np.array([named[n] for n in names])


# ---- generic placement helpers -----------------------------------------------------------
def _shift_body(task: HandTask, body: int, point_now: np.ndarray, point_wanted: np.ndarray) -> None:
    """Translate `body` (a model field: its `body_pos`) so a point fixed to it moves from
    `point_now` to `point_wanted` (world frame)."""
    parent = task.model.body_parentid[body]
    rotation = task.data.xmat[parent].reshape(3, 3)
    task.model.body_pos[body] += rotation.T @ (point_wanted - point_now)


def _place_site(task: HandTask, site: int, wanted: np.ndarray) -> None:
    """Move a site (its `site_pos`) to a world position."""
    rotation = task.data.xmat[task.model.site_bodyid[site]].reshape(3, 3)
    task.model.site_pos[site] += rotation.T @ (wanted - task.data.site_xpos[site])


def _solve_body_joints(task: HandTask, body: int, joints: tuple[str, ...], position: np.ndarray,
                       quaternion: np.ndarray | None = None, iterations: int = 30) -> None:
    """Set the qpos of `joints` (slides and hinges of `body`) so that the body's world
    position (and orientation, when given) match: Gauss-Newton on the body Jacobian,
    starting from the current joint values (continuity from tick to tick)."""
    m, d = task.model, task.data
    ids = [m.joint(j).id for j in joints]
    qadr = np.array([m.jnt_qposadr[j] for j in ids])
    dadr = np.array([m.jnt_dofadr[j] for j in ids])
    jacp, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
    rot_err = np.zeros(3)
    for _ in range(iterations):
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        err = [position - d.xpos[body]]
        mujoco.mj_jacBody(m, d, jacp, jacr, body)
        jac = [jacp[:, dadr]]
        if quaternion is not None:
            # Rotation taking the current orientation to the wanted one, in the body frame,
            # expressed in the world frame like the Jacobian.
            mujoco.mju_subQuat(rot_err, quaternion, d.xquat[body])
            err.append(d.xmat[body].reshape(3, 3) @ rot_err)
            jac.append(jacr[:, dadr])
        err, jac = np.concatenate(err), np.vstack(jac)
        if np.max(np.abs(err)) < 1e-13:
            break
        d.qpos[qadr] += np.linalg.lstsq(jac, err, rcond=None)[0]
    mujoco.mj_kinematics(m, d)


# ---- per task ------------------------------------------------------------------------------
def _mirror_relocate(task, s: dict, previous: dict | None) -> None:
    # The ball is a sphere on three slides and three hinges: its centre and linear velocity
    # are observed (its spin is not and does not change where it is or what it touches).
    _solve_body_joints(task, task.ball_body, ("OBJTx", "OBJTy", "OBJTz"),
                       _pick(s, "ball_x", "ball_y", "ball_z"))
    task.data.qvel[task.ball_dof:task.ball_dof + 3] = _pick(s, "ball_vx", "ball_vy", "ball_vz")
    _place_site(task, task.target_site, _pick(s, "target_x", "target_y", "target_z"))


def _mirror_door(task, s: dict, previous: dict | None) -> None:
    d = task.data
    d.qpos[task.door_qpos], d.qvel[task.door_dof] = s["door_angle"], s["door_velocity"]
    d.qpos[task.latch_qpos], d.qvel[task.latch_dof] = s["latch_angle"], s["latch_velocity"]
    mujoco.mj_kinematics(task.model, d)
    # The frame's position is randomised: the hinge's world position gives it.
    _shift_body(task, task.frame_body, d.xanchor[task.hinge_joint].copy(), _pick(s, "hinge_x", "hinge_y", "hinge_z"))


def _mirror_hammer(task, s: dict, previous: dict | None) -> None:
    m, d = task.model, task.data
    nail = m.joint("nail_dir")
    d.qpos[task._nail_qpos] = s["nail_depth"]
    d.qvel[nail.dofadr[0]] = 0.0 if previous is None else \
        (s["nail_depth"] - previous["nail_depth"]) / task.spec.control_dt
    mujoco.mj_kinematics(m, d)
    # The board's position is randomised: the nail head's world position gives it.
    _shift_body(task, task._board, d.site_xpos[task._nail_head_site].copy(),
                _pick(s, "nail_head_x", "nail_head_y", "nail_head_z"))
    _solve_body_joints(task, task._hammer, ("OBJTx", "OBJTy", "OBJTz", "OBJRx", "OBJRy", "OBJRz"),
                       _pick(s, "hammer_x", "hammer_y", "hammer_z"),
                       _pick(s, "hammer_qw", "hammer_qx", "hammer_qy", "hammer_qz"))


_MIRRORS: dict[str, Callable[[HandTask, dict, dict | None], None]] = {
    "relocate": _mirror_relocate,
    "door": _mirror_door,
    "hammer": _mirror_hammer,
}
