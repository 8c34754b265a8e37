"""Relocate: grasp a ball on the table with the Adroit hand and carry it to a target in the air.

Scene: Adroit's relocate model (gymnasium-robotics, Apache-2.0). The forearm hangs on a 6-DoF
arm (slides ARTx/ARTy/ARTz, hinges ARRx/ARRy/ARRz) that the spacemouse drives; the 24 hand
joints (wrist WRJ1/WRJ0 and the fingers) follow the glove. The arm's slides cannot lower the
hand (ARTy only raises it), so reaching the table needs the forearm pitched down (ARRx):
a wrist twist is therefore mapped to all six arm joints.

The one change to the stock scene: rolling friction between the ball and the table.

Randomised from the seed: the ball's start on the table and the target position above it
(both are model fields, `body_pos` / `site_pos`, so snapshots carry them), plus a small
offset of the arm's start pose.

Stages (read from the scene):
  init      - anything before the others;
  pre_grasp - the hand's grasp point is around the ball (ball still on the table);
  grasped   - thumb and at least two fingers touch the ball and it is off the table;
  lifted    - grasped and the ball is well above the table.
Success: the ball's centre is within `success_distance` of the target and (nearly) at rest
there, which at the target's height means it is held.
"""
from __future__ import annotations

import mujoco
import numpy as np

from dexpie_sim.assets import adroit_xml
from dexpie_sim.tasks.adroit import ADROIT_HAND_JOINTS, palm_twist_map
from dexpie_sim.tasks.base import HandTask, TaskSpec

ARM_JOINTS = ("ARTx", "ARTy", "ARTz", "ARRx", "ARRy", "ARRz")
FINGER_JOINTS = ADROIT_HAND_JOINTS
OBJECT_NAMES = ("ball_x", "ball_y", "ball_z", "ball_vx", "ball_vy", "ball_vz",
                "target_x", "target_y", "target_z",
                "ball_from_grasp_x", "ball_from_grasp_y", "ball_from_grasp_z",
                "target_from_ball_x", "target_from_ball_y", "target_from_ball_z")

BALL_RADIUS = 0.035
TABLE_HALF_SIZE = 0.45
BALL_ROLLING_FRICTION = 0.005    # m, ball on the table only (a rubber-mat table top)
# Ranges of the seeded placement (world frame, metres). Slightly inside gymnasium's own
# ranges: the far edge of its ball range (y = 0.3) is at the limit of the arm's reach.
BALL_X_RANGE = (-0.15, 0.15)
BALL_Y_RANGE = (-0.15, 0.22)
TARGET_X_RANGE = (-0.2, 0.2)
TARGET_Y_RANGE = (-0.2, 0.2)
TARGET_Z_RANGE = (0.15, 0.30)
ARM_START_JITTER = 0.02      # m, on the horizontal slides

# Bodies of the hand that count as a finger or the thumb touching the ball.
_FINGER_PREFIXES = ("ff", "mf", "rf", "lf")
_THUMB_PREFIX = "th"


class RelocateTask(HandTask):
    spec = TaskSpec(
        name="relocate",
        stages=("init", "pre_grasp", "grasped", "lifted"),
        max_episode_steps=200,
        arm_joints=ARM_JOINTS,
        finger_joints=FINGER_JOINTS,
        object_names=OBJECT_NAMES,
        description="Grasp the ball on the table and hold it at the green target in the air.",
    )
    randomised_fields = ("body_pos", "site_pos")
    success_distance = 0.05      # m, ball centre to target
    success_max_speed = 0.15     # m/s, the ball must be held there, not flying through
    pre_grasp_distance = 0.045   # m, grasp site to ball centre
    grasped_clearance = 0.01     # m, ball bottom above the table
    lifted_clearance = 0.08      # m, ball bottom above the table

    def _build_model(self) -> mujoco.MjModel:
        spec = mujoco.MjSpec.from_file(str(adroit_xml("adroit_relocate.xml")))
        # The stock ball has no rolling resistance on the table: a dropped or nudged ball
        # rolls on until it falls off the table, which no human could recover. A wooden ball
        # on a rubber-mat table top stops within a few cm: rolling friction on that one contact pair.
        table_top = spec.body("table").geoms[0]
        table_top.name = "table_top"
        spec.add_pair(geomname1="sphere", geomname2="table_top", condim=6,
                      friction=[1.0, 1.0, 0.005, BALL_ROLLING_FRICTION, BALL_ROLLING_FRICTION])
        return spec.compile()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        m = self.model
        self.ball_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "Object")
        self.ball_geom = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "sphere")
        self.target_site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "target")
        self.grasp_site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "S_grasp")
        ball_joint = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "OBJTx")
        self.ball_dof = int(m.jnt_dofadr[ball_joint])
        # Hand geom -> 0 for the thumb, 1..4 for the fingers, -1 for palm/arm/other.
        self._geom_digit = np.full(m.ngeom, -1, dtype=int)
        for g in range(m.ngeom):
            body = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, int(m.geom_bodyid[g])) or ""
            if body.startswith(_THUMB_PREFIX):
                self._geom_digit[g] = 0
            for i, prefix in enumerate(_FINGER_PREFIXES):
                if body.startswith(prefix):
                    self._geom_digit[g] = i + 1
        table = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "table")
        self._table_geoms = {g for g in range(m.ngeom) if m.geom_bodyid[g] == table}
        self._arm_qpos = np.array([m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, j)]
                                   for j in ARM_JOINTS])

    # ---- randomisation ----------------------------------------------------------------------
    def _randomise(self, rng: np.random.Generator) -> None:
        m = self.model
        m.body_pos[self.ball_body, 0] = rng.uniform(*BALL_X_RANGE)
        m.body_pos[self.ball_body, 1] = rng.uniform(*BALL_Y_RANGE)
        m.site_pos[self.target_site] = [rng.uniform(*TARGET_X_RANGE), rng.uniform(*TARGET_Y_RANGE),
                                        rng.uniform(*TARGET_Z_RANGE)]
        # ARTx and ARTz are the horizontal slides.
        self.data.qpos[self._arm_qpos[[0, 2]]] = rng.uniform(-ARM_START_JITTER, ARM_START_JITTER, 2)

    # ---- scene readings -----------------------------------------------------------------------
    def ball_position(self) -> np.ndarray:
        return self.data.xpos[self.ball_body].copy()

    def ball_velocity(self) -> np.ndarray:
        return self.data.qvel[self.ball_dof:self.ball_dof + 3].copy()

    def target_position(self) -> np.ndarray:
        return self.data.site_xpos[self.target_site].copy()

    def grasp_position(self) -> np.ndarray:
        return self.data.site_xpos[self.grasp_site].copy()

    def ball_contacts(self) -> tuple[set[int], bool]:
        """(digits touching the ball: 0 thumb, 1-4 fingers; whether the table touches it)."""
        digits, on_table = set(), False
        d = self.data
        for i in range(d.ncon):
            g1, g2 = int(d.contact[i].geom[0]), int(d.contact[i].geom[1])
            if self.ball_geom not in (g1, g2):
                continue
            other = g2 if g1 == self.ball_geom else g1
            if other in self._table_geoms:
                on_table = True
            elif self._geom_digit[other] >= 0:
                digits.add(int(self._geom_digit[other]))
        return digits, on_table

    def object_state(self) -> np.ndarray:
        ball, target = self.ball_position(), self.target_position()
        return np.concatenate([ball, self.ball_velocity(), target, ball - self.grasp_position(),
                               target - ball])

    # ---- task conditions ------------------------------------------------------------------------
    def ball_clearance(self) -> float:
        """Height of the ball's bottom above the table top (z = 0)."""
        return float(self.ball_position()[2] - BALL_RADIUS)

    def is_grasped(self) -> bool:
        digits, on_table = self.ball_contacts()
        firm = 0 in digits and len(digits - {0}) >= 2
        return firm and not on_table and self.ball_clearance() > self.grasped_clearance

    def is_success(self) -> bool:
        close = np.linalg.norm(self.ball_position() - self.target_position()) < self.success_distance
        return bool(close and np.linalg.norm(self.ball_velocity()) < self.success_max_speed)

    def stage_reached(self) -> str:
        if self.is_grasped():
            return "lifted" if self.ball_clearance() > self.lifted_clearance else "grasped"
        near = np.linalg.norm(self.grasp_position() - self.ball_position()) < self.pre_grasp_distance
        return "pre_grasp" if near else "init"

    # ---- teleoperation ----------------------------------------------------------------------------
    def twist_to_joint(self) -> np.ndarray:
        """World twist of the hand -> arm joint velocities. The slides are the forearm's frame
        axes (ARTx = -x, ARTy = +z, ARTz = +y in the world); see `palm_twist_map`."""
        return palm_twist_map(self.model, ARM_JOINTS[:3], ARM_JOINTS[3:])
