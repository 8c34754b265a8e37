"""The simulated operator of the door task: hook the lever handle, turn it down until the
latch is free, let go and push the door open with the fist.

The phase is read from the (delayed) scene every tick:
  latch shut (lever < `release_latch_angle`, door closed):
      palm at the lever            -> keep the fingers hooked and turn the lever down
                                      (the grip pose is carried round the lever's axis,
                                      a little ahead of the lever's angle);
      palm above the lever         -> come down onto it, hooking the fingers;
      otherwise                    -> open hand, go above the lever (via a point in front of
                                      it when the fingers would sweep through it);
  latch free:
      palm still at the lever      -> open the hand and back away from the lever;
      otherwise                    -> make a fist, bring it to the door's face above the
                                      lever and push, the fist's goal a little ahead of the
                                      door along its arc.
Goals are palm poses in the lever's or the door's frame, turned into arm joint targets by a
damped least-squares IK (palm position and orientation) on a private MjData; the base class
expresses them as spacemouse axes. The only memory is the finger posture, which moves
towards the phase's posture at a human hand's speed; it restarts from the measured fingers
after `reset()`, so the operator resumes from any state.
"""
from __future__ import annotations

import mujoco
import numpy as np

from dexpie_sim.operators.base import OperatorConfig, OperatorIntent, SimOperator
from dexpie_sim.tasks.door import ARM_JOINTS, FINGER_JOINTS

# Finger postures (joint name -> angle, rad); joints not named stay at 0.
OPEN_HAND = {"THJ4": 0.3, "THJ3": 0.2}
HOOK_HAND = {"FFJ2": 1.2, "FFJ1": 1.2, "FFJ0": 0.6, "MFJ2": 1.2, "MFJ1": 1.2, "MFJ0": 0.6,
             "RFJ2": 1.2, "RFJ1": 1.2, "RFJ0": 0.6, "LFJ2": 1.2, "LFJ1": 1.2, "LFJ0": 0.6,
             "THJ4": 0.3, "THJ3": 0.2}
FIST_HAND = {"FFJ2": 1.57, "FFJ1": 1.57, "FFJ0": 1.0, "MFJ2": 1.57, "MFJ1": 1.57, "MFJ0": 1.0,
             "RFJ2": 1.57, "RFJ1": 1.57, "RFJ0": 1.0, "LFJ2": 1.57, "LFJ1": 1.57, "LFJ0": 1.0,
             "THJ4": 0.8, "THJ3": 1.2, "THJ1": 0.3, "THJ0": -0.6}


def _posture(values: dict[str, float]) -> np.ndarray:
    return np.array([values.get(j, 0.0) for j in FINGER_JOINTS])


def _rot_axis(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix about a unit axis (Rodrigues)."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def _rotation_error(current: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """World-frame rotation vector taking `current` to `desired`."""
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, (desired @ current.T).ravel())
    vec = np.zeros(3)
    mujoco.mju_quat2Vel(vec, quat, 1.0)
    return vec


class PalmIK:
    """Damped least-squares IK of the 6-DoF arm for the palm's pose, on a private MjData.
    Joints at a limit that the step pushes outwards are frozen."""

    def __init__(self, model: mujoco.MjModel, rotation_weight: float = 0.3, damping: float = 1e-3):
        self.model = model
        self.data = mujoco.MjData(model)
        self.palm = model.body("palm").id
        joints = [model.joint(j).id for j in ARM_JOINTS]
        self.qpos_adr = model.jnt_qposadr[joints]
        self.dof_adr = model.jnt_dofadr[joints]
        self.lower = model.jnt_range[joints, 0].copy()
        self.upper = model.jnt_range[joints, 1].copy()
        self.rotation_weight = rotation_weight
        self.damping = damping
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def palm_pose(self, arm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.data.qpos[self.qpos_adr] = arm
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.xpos[self.palm].copy(), self.data.xmat[self.palm].reshape(3, 3).copy()

    def solve(self, arm: np.ndarray, position: np.ndarray, rotation: np.ndarray,
              iterations: int = 12) -> np.ndarray:
        q = np.asarray(arm, float).copy()
        weights = np.array([1.0] * 3 + [self.rotation_weight] * 3)
        for _ in range(iterations):
            pos, rot = self.palm_pose(q)
            error = np.concatenate([position - pos, _rotation_error(rot, rotation)]) * weights
            if np.linalg.norm(error) < 1e-4:
                break
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_jacBody(self.model, self.data, self._jacp, self._jacr, self.palm)
            jac = np.vstack([self._jacp[:, self.dof_adr], self._jacr[:, self.dof_adr]]) * weights[:, None]
            free = np.ones(len(q), dtype=bool)
            for _ in range(2):
                j = jac[:, free]
                step = j.T @ np.linalg.solve(j @ j.T + self.damping * np.eye(6), error)
                full = np.zeros(len(q))
                full[free] = step
                blocked = ((q <= self.lower + 1e-6) & (full < 0)) | ((q >= self.upper - 1e-6) & (full > 0))
                if not blocked.any():
                    break
                free &= ~blocked
            q = np.clip(q + full, self.lower, self.upper)
        return q


class DoorOperator(SimOperator):
    default_config = OperatorConfig()

    # Palm poses, positions in metres. In the lever's (latch body's) frame: the lever runs
    # along +x from the hub at y = -0.21; the palm lies on it, the lever under the knuckles.
    grip_in_lever = np.array([0.14, -0.275, 0.035])
    above_lever = np.array([0.0, 0.0, 0.05])        # pre-grip offset (lever frame)
    clear_of_lever = np.array([0.0, -0.2, 0.0])    # via point: fingertips in front of the lever
    # In the door's frame: fist knuckles on the front face (y = -0.05) beside the lever's hub,
    # on the hinge side (the turned lever hangs down from the hub, out of the way).
    push_in_door = np.array([0.04, -0.175, -0.03])
    back_off = np.array([0.0, 0.0, 0.08])           # lever frame: away from the palm side
    press = np.array([0.0, 0.0, -0.05])             # lever frame: pressing into the lever
    turn_lead = 0.9           # rad: the grip's goal runs this far ahead of the lever
    turn_goal = 1.5           # rad: lever angle the operator turns to
    release_latch_angle = 1.35
    push_lead = 0.25          # rad: the fist's goal runs this far ahead of the door
    push_goal = 1.5           # rad
    yaw_follow = 0.4          # fraction of the door's angle the hand yaws with it
    at_grip = 0.025           # m: palm this close to the grip pose counts as holding the lever
    at_lever = 0.06           # m: palm this close to the grip pose is still at the lever
    finger_speed = 4.0        # rad/s: how fast the glove hand changes posture
    # How people's plans differ (1 sd): where the palm grips the lever, where the fist
    # pushes, how far ahead of the lever they turn, how fast they move the fingers.
    strategy_spread = {"grip_in_lever": np.array([0.01, 0.008, 0.005]),
                       "push_in_door": np.array([0.01, 0.01, 0.01]), "turn_lead": 0.15,
                       "finger_speed": 0.8}

    def __init__(self, task, teleop, config: OperatorConfig = OperatorConfig(), seed: int = 0):
        super().__init__(task, teleop, config, seed)
        self.ik = PalmIK(task.model)
        _, self.palm_rest_rotation = self.ik.palm_pose(np.zeros(len(ARM_JOINTS)))
        self.n_arm = len(ARM_JOINTS)
        self._fingers: np.ndarray | None = None
        self._best_progress = -np.inf
        self._stalled_ticks = 0

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._fingers = None
        self._best_progress = -np.inf
        self._stalled_ticks = 0

    # ---- a watching human's takeover decision ----------------------------------------------------
    stall_ticks = 45          # 1.5 s without progress
    drift_distance = 0.3      # m: palm this far from both the lever and the push point

    def progress(self, scene: dict) -> float:
        """Task progress read from the scene: the hand closing in on the lever (metres), then
        the lever's turn up to the release angle and the door's opening (radians)."""
        grip, _ = self.grip_pose(scene, scene["latch_angle"])
        reach = -min(float(np.linalg.norm(scene["palm_pos"] - grip)), 0.5)
        turned = min(scene["latch_angle"], self.release_latch_angle) + max(scene["door_angle"], 0.0)
        return turned if turned > 0.05 else reach

    def failure_seen(self, scene: dict) -> bool:
        """Take over when the task stops progressing for `stall_ticks` (lever not turning,
        door not opening) or when the hand wanders far from the lever and the door."""
        if self.task.is_success():
            return False
        progress = self.progress(scene)
        if progress > self._best_progress + 0.02:
            self._best_progress, self._stalled_ticks = progress, 0
        else:
            self._stalled_ticks += 1
        grip, _ = self.grip_pose(scene, scene["latch_angle"])
        push, _ = self.push_pose(scene, scene["door_angle"])
        drifted = min(np.linalg.norm(scene["palm_pos"] - grip),
                      np.linalg.norm(scene["palm_pos"] - push)) > self.drift_distance
        return drifted or self._stalled_ticks >= self.stall_ticks

    # ---- perception ------------------------------------------------------------------------
    def perceive(self) -> dict:
        t = self.task
        d = t.data
        joints = t.controller.joint_positions(d)
        latch, door = t.model.body("latch").id, t.model.body("door").id
        return dict(arm=joints[:self.n_arm], fingers=joints[self.n_arm:],
                    latch_angle=t.latch_angle(), door_angle=t.door_angle(),
                    latch_pos=d.xpos[latch].copy(), latch_rot=d.xmat[latch].reshape(3, 3).copy(),
                    door_pos=d.xpos[door].copy(), door_rot=d.xmat[door].reshape(3, 3).copy(),
                    hinge_pos=d.xanchor[t.hinge_joint].copy(), hinge_axis=d.xaxis[t.hinge_joint].copy(),
                    latch_axis=d.xaxis[t.model.joint("latch").id].copy(),
                    palm_pos=t.palm_position(), palm_rot=d.xmat[t.palm_body].reshape(3, 3).copy(),
                    touching=t.hand_touches_handle())

    # ---- goal poses ---------------------------------------------------------------------------
    def lever_frame(self, scene: dict, angle: float) -> tuple[np.ndarray, np.ndarray]:
        """(origin, rotation) of the lever's frame turned to `angle`."""
        turn = _rot_axis(scene["latch_axis"], angle - scene["latch_angle"])
        return scene["latch_pos"], turn @ scene["latch_rot"]

    def door_frame(self, scene: dict, angle: float) -> tuple[np.ndarray, np.ndarray]:
        """(origin, rotation) of the door's frame swung to `angle` about its hinge."""
        swing = _rot_axis(scene["hinge_axis"], angle - scene["door_angle"])
        origin = scene["hinge_pos"] + swing @ (scene["door_pos"] - scene["hinge_pos"])
        return origin, swing @ scene["door_rot"]

    def grip_pose(self, scene: dict, angle: float, offset=np.zeros(3)) -> tuple[np.ndarray, np.ndarray]:
        origin, rot = self.lever_frame(scene, angle)
        return origin + rot @ (self.grip_in_lever + offset), rot @ self.palm_rest_rotation

    def push_pose(self, scene: dict, angle: float) -> tuple[np.ndarray, np.ndarray]:
        origin, rot = self.door_frame(scene, angle)
        yaw = _rot_axis(scene["hinge_axis"], self.yaw_follow * angle)
        return origin + rot @ self.push_in_door, yaw @ self.palm_rest_rotation

    # ---- the plan -------------------------------------------------------------------------------
    def phase(self, scene: dict) -> str:
        grip_pos, _ = self.grip_pose(scene, scene["latch_angle"])
        to_grip = scene["palm_pos"] - grip_pos
        latch_free = scene["latch_angle"] >= self.release_latch_angle or \
            scene["door_angle"] >= self.task.door_moved_angle
        distance = np.linalg.norm(to_grip)
        if latch_free:
            near = distance < self.at_lever and scene["door_angle"] < self.task.door_moved_angle + 0.05
            return "back_off" if near else "push"
        # Holding the lever: at the grip pose, or touching it near there while it turns away.
        if distance < self.at_grip or (scene["touching"] and distance < self.at_lever):
            return "turn"
        # In the lever's frame: is the palm above the lever (not beside or below it)?
        _, rot = self.lever_frame(scene, scene["latch_angle"])
        local = rot.T @ to_grip
        if np.linalg.norm(local[:2]) < 0.025 and -0.01 < local[2] < self.above_lever[2] + 0.03:
            return "descend"
        return "approach"

    def plan(self, scene: dict) -> OperatorIntent:
        phase = self.phase(scene)
        posture = OPEN_HAND
        if phase == "turn":
            goal = min(scene["latch_angle"] + self.turn_lead, self.turn_goal)
            pos, rot = self.grip_pose(scene, goal, self.press)
            posture = HOOK_HAND
        elif phase == "descend":
            pos, rot = self.grip_pose(scene, scene["latch_angle"])
            posture = HOOK_HAND
        elif phase == "approach":
            pos, rot = self.grip_pose(scene, scene["latch_angle"], self.above_lever)
            # Coming from below or from the side, the fingers would sweep through the lever:
            # go up in front of it first.
            _, lever_rot = self.lever_frame(scene, scene["latch_angle"])
            local = lever_rot.T @ (scene["palm_pos"] - pos)
            if local[2] < -0.04 and local[1] > self.clear_of_lever[1] + 0.01:
                pos, rot = self.grip_pose(scene, scene["latch_angle"], self.above_lever + self.clear_of_lever)
        elif phase == "back_off":
            pos, rot = self.grip_pose(scene, scene["latch_angle"], self.back_off)
        else:
            goal = min(scene["door_angle"] + self.push_lead, self.push_goal)
            pos, rot = self.push_pose(scene, goal)
            posture = FIST_HAND
        arm = self.ik.solve(scene["arm"], pos, rot)
        return OperatorIntent(arm=arm, fingers=self._move_fingers(scene, _posture(posture)))

    def _move_fingers(self, scene: dict, goal: np.ndarray) -> np.ndarray:
        """Glove hand moving towards `goal` at a human hand's speed."""
        if self._fingers is None:
            self._fingers = scene["fingers"].copy()
        step = self.finger_speed * self.task.spec.control_dt
        self._fingers = self._fingers + np.clip(goal - self._fingers, -step, step)
        return self._fingers.copy()
