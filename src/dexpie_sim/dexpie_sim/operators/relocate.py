"""The simulated operator of the relocate task: reach over the ball, close the hand, lift it
straight up, carry it to the target and hold it there.

The phase is read from the (delayed) scene every tick:
  held      (thumb + two fingers on the ball, ball in the hand)  -> lift, then carry;
  around    (grasp point at the ball)                            -> close the hand;
  otherwise                                                      -> open the hand, reach.
The only memory is the grip level (how far the glove hand is closed), which ramps over
`close_seconds` like a human closing a hand, and is re-estimated from the measured finger
joints after `reset()`, so the operator resumes from any state.

The arm is steered in Cartesian space: each tick the grasp point's goal is at most
`lookahead` metres ahead of where the hand is, turned into arm joint targets by a damped
least-squares IK on the six arm joints (position of the grasp point, palm kept level in roll
and yaw, forearm pitch free), which the base class expresses as spacemouse axes.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from dexpie_sim.operators.base import OperatorConfig, OperatorIntent, SimOperator
from dexpie_sim.tasks.relocate import ARM_JOINTS, BALL_RADIUS, FINGER_JOINTS, TABLE_HALF_SIZE

# Finger postures (joint name -> angle, rad); joints not named stay at 0.
OPEN_HAND = {"THJ4": 0.3, "THJ3": 0.2, "THJ0": -0.2}
CLOSED_HAND = {"FFJ2": 1.0, "FFJ1": 1.1, "FFJ0": 0.7,
               "MFJ2": 1.0, "MFJ1": 1.1, "MFJ0": 0.7,
               "RFJ2": 1.0, "RFJ1": 1.1, "RFJ0": 0.7,
               "LFJ2": 1.0, "LFJ1": 1.1, "LFJ0": 0.7,
               "THJ4": 0.6, "THJ3": 1.2, "THJ2": 0.1, "THJ1": 0.3, "THJ0": -0.4}


def _posture(values: dict[str, float]) -> np.ndarray:
    return np.array([values.get(j, 0.0) for j in FINGER_JOINTS])


class ArmIK:
    """Damped least-squares IK of Adroit's 6-DoF arm for the grasp site, on a private MjData.

    Tasks: grasp-site position (weight 1) and palm roll/yaw level (weight `level_weight`);
    the remaining freedom (forearm pitch vs. lift slide) is settled by joint limits and a
    pull towards the level pose. Joints at a limit that the step pushes outwards are frozen.
    """

    def __init__(self, model: mujoco.MjModel, site: str = "S_grasp", level_weight: float = 0.3,
                 damping: float = 1e-3):
        self.model = model
        self.data = mujoco.MjData(model)
        self.site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
        joints = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in ARM_JOINTS]
        self.qpos_adr = np.array([model.jnt_qposadr[j] for j in joints])
        self.dof_adr = np.array([model.jnt_dofadr[j] for j in joints])
        # Adroit's joint limits push back from `margin` (1 cm) inside the range: plan inside it.
        margin = model.jnt_margin[joints] + 1e-3
        self.lower = model.jnt_range[joints, 0] + margin
        self.upper = model.jnt_range[joints, 1] - margin
        self.level_weight = level_weight
        self.damping = damping
        mujoco.mj_kinematics(model, self.data)
        self.level_rotation = self.data.site_xmat[self.site].reshape(3, 3).copy()
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def site_position(self, arm_q: np.ndarray) -> np.ndarray:
        self.data.qpos[self.qpos_adr] = arm_q
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self.site].copy()

    def solve(self, goal: np.ndarray, arm_q: np.ndarray, iterations: int = 12) -> np.ndarray:
        q = np.clip(np.asarray(arm_q, float).copy(), self.lower, self.upper)
        for _ in range(iterations):
            self.data.qpos[self.qpos_adr] = q
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.site)
            rotation = self.data.site_xmat[self.site].reshape(3, 3)
            # Small-angle rotation error (world frame); x (pitch) is left free.
            rot_err = 0.5 * sum(np.cross(rotation[:, i], self.level_rotation[:, i]) for i in range(3))
            jac = np.vstack([self._jacp[:, self.dof_adr], self.level_weight * self._jacr[1:, self.dof_adr]])
            err = np.concatenate([goal - self.data.site_xpos[self.site], self.level_weight * rot_err[1:]])
            free = np.ones(6, dtype=bool)
            for _ in range(2):
                j = jac * free
                dq = j.T @ np.linalg.solve(j @ j.T + self.damping * np.eye(len(err)), err)
                # Secondary: pull towards the level pose (pitch 0) within the null space.
                null = np.eye(6) - np.linalg.pinv(j) @ j
                dq += null @ (np.where(free, -0.2 * q, 0.0) * np.array([0, 0, 0, 1, 1, 1]))
                blocked = ((q <= self.lower + 1e-6) & (dq < 0)) | ((q >= self.upper - 1e-6) & (dq > 0))
                if not (blocked & free).any():
                    break
                free &= ~blocked
            q = np.clip(q + dq, self.lower, self.upper)
            if np.linalg.norm(err[:3]) < 1e-4:
                break
        return q


@dataclass
class _Watch:
    """What the watching human remembers between ticks."""
    in_hand: np.ndarray | None = None   # ball minus grasp point when it was first held
    rest: np.ndarray | None = None      # where the ball lay before it was grasped
    best_progress: float = -np.inf
    stalled_ticks: int = 0


class RelocateOperator(SimOperator):
    default_config = OperatorConfig(reaction_delay_steps=3, glove_noise_std=0.02,
                                    spacemouse_noise_std=0.02, arm_gain=0.5)
    close_seconds = 0.3          # a human closes the hand around the ball in ~0.3 s
    lookahead = 0.05            # m, how far ahead of the hand the operator steers per tick
    grasp_offset = np.array([0.0, -0.03, 0.005])  # ball centre -> grasp site when grasping
    hover = 0.08                 # m above the grasp pose while still far from the ball
    lift_height = 0.12           # m, ball bottom above the table before moving sideways
    slip_distance = 0.025        # m the ball may shift in the hand before a human steps in
    knocked_distance = 0.04      # m the ball may be pushed on the table before a human steps in
    patience_ticks = 60          # ticks without progress before a human steps in
    # How people's plans differ (1 sd): grasp point on the ball, approach height, pace of the
    # arm and of closing the hand (operators/profile.py).
    strategy_spread = {"grasp_offset": np.array([0.004, 0.004, 0.003]), "hover": 0.02,
                       "lookahead": 0.01, "close_seconds": 0.08}

    def __init__(self, task, teleop, config: OperatorConfig = OperatorConfig(), seed: int = 0):
        super().__init__(task, teleop, config, seed)
        self.ik = ArmIK(task.model)
        self.open_hand = _posture(OPEN_HAND)
        self.closed_hand = _posture(CLOSED_HAND)
        self._grip: float | None = None
        self._watch = _Watch()

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._grip = None
        self._watch = _Watch()

    def perceive(self) -> dict:
        t = self.task
        q = t.controller.joint_positions(t.data)
        digits, on_table = t.ball_contacts()
        return dict(ball=t.ball_position(), ball_velocity=t.ball_velocity(), target=t.target_position(),
                    grasp=t.grasp_position(), arm=q[:len(ARM_JOINTS)], fingers=q[len(ARM_JOINTS):],
                    digits=frozenset(digits), on_table=on_table)

    # ---- phase from the scene -------------------------------------------------------------------
    @staticmethod
    def is_held(scene: dict) -> bool:
        firm = 0 in scene["digits"] and len(scene["digits"] - {0}) >= 2
        return firm and np.linalg.norm(scene["ball"] - scene["grasp"]) < 0.06

    def is_around(self, scene: dict) -> bool:
        """Grasp point at the ball; tighter before the hand starts closing (a human lines
        the hand up, then closes without re-aiming)."""
        tolerance = 0.025 if (self._grip or 0.0) > 0.3 else 0.008
        error = scene["ball"] + self.grasp_offset - scene["grasp"]
        return bool(np.linalg.norm(error) < tolerance)

    def phase(self, scene: dict) -> str:
        if self.is_held(scene):  # finish closing before moving a held ball
            return "carry" if self._grip_level(scene) > 0.9 else "close"
        return "close" if self.is_around(scene) else "reach"

    def _grip_level(self, scene: dict) -> float:
        if self._grip is None:  # fresh start: read how far the hand is closed
            span = self.closed_hand - self.open_hand
            self._grip = float(np.clip(np.dot(scene["fingers"] - self.open_hand, span) / np.dot(span, span), 0, 1))
        return self._grip

    # ---- plan -----------------------------------------------------------------------------------
    def plan(self, scene: dict) -> OperatorIntent:
        phase = self.phase(scene)
        grip = self._grip_level(scene)
        step = self.task.spec.control_dt / self.close_seconds
        grip = min(1.0, grip + step) if phase in ("close", "carry") else max(0.0, grip - step)
        self._grip = grip
        fingers = self.open_hand + grip * (self.closed_hand - self.open_hand)
        ball, hand = scene["ball"], scene["grasp"]
        if phase == "carry":
            in_hand = hand - ball
            target = scene["target"]
            if ball[2] - BALL_RADIUS < min(self.lift_height, target[2] - BALL_RADIUS - 0.02) \
                    and np.linalg.norm((target - ball)[:2]) > 0.03:
                goal_ball = np.array([ball[0], ball[1], max(target[2], BALL_RADIUS + self.lift_height + 0.02)])
            else:
                goal_ball = target
            goal = goal_ball + in_hand
        elif phase == "close":  # hold still: following the ball as the fingers push it chases it away
            return OperatorIntent(arm=scene["arm"].copy(), fingers=fingers)
        else:
            goal = ball + self.grasp_offset
            horizontal = np.linalg.norm((goal - hand)[:2])
            # A funnel: stay above the ball until over it, then come straight down.
            goal = goal + np.array([0.0, 0.0, min(self.hover, 2.0 * horizontal)])
        delta = goal - hand
        distance = np.linalg.norm(delta)
        if distance > self.lookahead:
            delta *= self.lookahead / distance
        arm = self.ik.solve(hand + delta, scene["arm"])
        return OperatorIntent(arm=arm, fingers=fingers)

    # ---- a watching human's takeover decision ----------------------------------------------------
    def failure_seen(self, scene: dict) -> bool:
        """True on the tick a failure starts: the ball slips out of or drops from the hand, is
        knocked off its spot or off the table, or nothing has progressed for `patience_ticks`."""
        watch = self._watch
        ball, hand = scene["ball"], scene["grasp"]
        on_table = ball[2] < BALL_RADIUS + 0.005
        held = self.is_held(scene) and not on_table
        if held and watch.in_hand is None:
            watch.in_hand = ball - hand
        if watch.rest is None and on_table and not held:
            watch.rest = ball.copy()
        off_table = ball[2] < BALL_RADIUS - 0.02 or np.any(np.abs(ball[:2]) > TABLE_HALF_SIZE)
        # Slipping or dropped: the ball has moved in the hand since it was picked up.
        slipped = (watch.in_hand is not None
                   and np.linalg.norm(ball - hand - watch.in_hand) > self.slip_distance)
        knocked = (watch.in_hand is None and watch.rest is not None
                   and np.linalg.norm(ball[:2] - watch.rest[:2]) > self.knocked_distance)
        # Progress: the hand closing in on the ball, then the ball closing in on the target.
        progress = -np.linalg.norm(scene["target"] - ball) - (0.0 if held else np.linalg.norm(ball - hand))
        if progress > watch.best_progress + 0.01:
            watch.best_progress, watch.stalled_ticks = progress, 0
        else:
            watch.stalled_ticks += 1
        failing = off_table or slipped or knocked or watch.stalled_ticks > self.patience_ticks
        if failing:
            self._watch = _Watch()  # a fresh look once the human has stepped in
        return bool(failing)
