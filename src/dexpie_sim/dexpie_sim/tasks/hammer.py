"""Tool use: grasp a hammer by its handle, lift it, and drive a nail into a board.

Scene: the Adroit hammer scene (`adroit_hammer.xml`), edited with `mujoco.MjSpec` so that the
task is a top-down hammer strike a scripted or human operator can perform:

- the arm gets three world-aligned slides ARTx/ARTy/ARTz (affine actuators like Adroit
  relocate's arm) before the stock hinges ARRx (pitch) and ARRy (yaw); the stock arm's two
  hinges cannot bring the hammer over a nail;
- the nail board lies flat on a pedestal and the nail points up, so a strike is a downward
  blow (the stock board is vertical and needs a sideways swing of the 2-hinge arm);
- the hammer's head is turned so its striking face points down when the hammer lies on, or
  is held level over, the table (stock: the face points sideways);
- the nail keeps the stock slide `nail_dir` (range -0.01..0.09) and its dry friction.

Randomised from the seed: hammer position on the table (x, y) and yaw, nail board position
(x, y, height).

Success (as gymnasium-robotics' AdroitHandHammer): the nail head `S_target` within 0.01 m of
the board surface `nail_goal`, i.e. nail driven in by >= 0.081 m.

Stages: "init"; "grasped" (hammer held by the hand, off the table); "aligned" (held, its
face above the nail head and centred on it); "nail_started" (held, nail partly driven).
"""
from __future__ import annotations

import mujoco
import numpy as np

from dexpie_sim.assets import adroit_xml
from dexpie_sim.tasks.adroit import ADROIT_HAND_JOINTS
from dexpie_sim.tasks.base import HandTask, TaskSpec

ARM_SLIDES = ("ARTx", "ARTy", "ARTz")
ARM_HINGES = ("ARRx", "ARRy")
FINGER_JOINTS = ADROIT_HAND_JOINTS
# Slide ranges (m) relative to the stock forearm origin; world-aligned (see _build_model).
SLIDE_RANGES = {"ARTx": (-0.35, 0.35), "ARTy": (-0.25, 0.45), "ARTz": (-0.25, 0.25)}

HANDLE_RADIUS = 0.025
HEAD_OFFSET = 0.24              # hammer head centre along the handle axis from the grip centre
HEAD_HALF_LENGTH = 0.025        # striking face 0.025 below the handle axis
NAIL_LENGTH_OUT = 0.091         # nail head above the board surface when not driven
SUCCESS_DISTANCE = 0.01         # gymnasium-robotics' success threshold (nail head to board)
NAIL_STARTED_DEPTH = 0.03       # nail driven this far: stage "nail_started"
HELD_HEIGHT = 0.04              # hammer handle this far above its resting height: held
ALIGN_TOLERANCE = 0.015         # face centre within this horizontal distance of the nail


class HammerTask(HandTask):
    spec = TaskSpec(
        name="hammer",
        stages=("init", "grasped", "aligned", "nail_started"),
        max_episode_steps=240,
        arm_joints=ARM_SLIDES + ARM_HINGES,
        finger_joints=FINGER_JOINTS,
        object_names=("hammer_x", "hammer_y", "hammer_z",
                      "hammer_qw", "hammer_qx", "hammer_qy", "hammer_qz",
                      "face_x", "face_y", "face_z",
                      "nail_head_x", "nail_head_y", "nail_head_z",
                      "nail_depth"),
        description="Grasp the hammer by its handle, lift it and drive the nail into the board.",
    )

    def _build_model(self) -> mujoco.MjModel:
        spec = mujoco.MjSpec.from_file(str(adroit_xml("adroit_hammer.xml")))
        self._add_arm_slides(spec)
        self._make_board_flat(spec)
        self._turn_hammer_face_down(spec)
        model = spec.compile()
        self._ids(model)
        return model

    # ---- scene edits ------------------------------------------------------------------------
    @staticmethod
    def _add_arm_slides(spec: mujoco.MjSpec) -> None:
        forearm = spec.body("forearm")
        # The forearm frame (euler -1.57 0 3.14) maps local x,y,z to world -x,+z,+y; the slide
        # axes are given in local coordinates so that ARTx/ARTy/ARTz move along world x/y/z.
        local_axis = {"ARTx": [-1.0, 0.0, 0.0], "ARTy": [0.0, 0.0, 1.0], "ARTz": [0.0, 1.0, 0.0]}
        hinges = [spec.joint(n) for n in ARM_HINGES]
        saved = [(j.name, j.axis.copy(), j.range.copy(), j.damping[0]) for j in hinges]
        for j in hinges:               # re-added after the slides: slides act first
            spec.delete(j)
        for name in ARM_SLIDES:
            forearm.add_joint(name=name, type=mujoco.mjtJoint.mjJNT_SLIDE, axis=local_axis[name],
                              range=SLIDE_RANGES[name], damping=[20.0])
        for name, axis, rng, damping in saved:
            forearm.add_joint(name=name, type=mujoco.mjtJoint.mjJNT_HINGE, axis=axis, range=rng,
                              damping=[damping])
        for name in ARM_SLIDES:
            spec.add_actuator(name=f"A_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT,
                              gaintype=mujoco.mjtGain.mjGAIN_FIXED, biastype=mujoco.mjtBias.mjBIAS_AFFINE,
                              gainprm=[500.0] + [0.0] * 9, biasprm=[0.0, -200.0] + [0.0] * 8,
                              ctrllimited=1, ctrlrange=SLIDE_RANGES[name])

    @staticmethod
    def _make_board_flat(spec: mujoco.MjSpec) -> None:
        board = spec.body("nail_board")
        board.quat = [1.0, 0.0, 0.0, 0.0]          # board horizontal, nail pointing up
        board.pos = [-0.15, 0.05, 0.07]
        # A post under the board (reaching into the table, where static geoms do not collide).
        board.add_geom(name="board_post", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.03, 0.03, 0.1],
                       pos=[0.0, 0.0, -0.11], material="MatWood")
        # The nail's shank passes through the board and below it: only its head and the part
        # above the board may touch anything.
        spec.add_exclude(bodyname1="table", bodyname2="nail")
        # A camera from the hammer-head side (the stock "fixed" camera looks along the arm),
        # kept pointed at the nail board wherever it is placed.
        spec.worldbody.add_camera(name="side", pos=[-0.75, -0.45, 0.5],
                                  mode=mujoco.mjtCamLight.mjCAMLIGHT_TARGETBODY, targetbody="nail_board")

    @staticmethod
    def _turn_hammer_face_down(spec: mujoco.MjSpec) -> None:
        head = spec.geom("head")
        # The hammer body's y axis is world up when it lies on the table: turn the head's
        # cylinder axis onto it so its face strikes downwards.
        head.quat = [np.sqrt(0.5), -np.sqrt(0.5), 0.0, 0.0]
        head.size = [0.022, HEAD_HALF_LENGTH, 0.0]
        spec.site("tool").pos = [-HEAD_OFFSET, -HEAD_HALF_LENGTH, 0.0]
        hammer = spec.body("Object")
        hammer.pos = [0.0, -0.2, HANDLE_RADIUS + 0.001]

    def _ids(self, model: mujoco.MjModel) -> None:
        self._board = model.body("nail_board").id
        self._hammer = model.body("Object").id
        self._nail_qpos = model.jnt_qposadr[model.joint("nail_dir").id]
        self._hammer_qpos = model.jnt_qposadr[model.joint("OBJTx").id]
        self._tool_site = model.site("tool").id
        self._nail_head_site = model.site("S_target").id
        self._goal_site = model.site("nail_goal").id
        self._grasp_site = model.site("S_grasp").id
        hand_bodies = {model.body(n).id for n in ("palm", "ffproximal", "ffmiddle", "ffdistal", "mfproximal",
                                                  "mfmiddle", "mfdistal", "rfproximal", "rfmiddle", "rfdistal",
                                                  "lfproximal", "lfmiddle", "lfdistal", "thproximal",
                                                  "thmiddle", "thdistal")}
        self._hand_bodies = hand_bodies
        self._thumb_bodies = {model.body(n).id for n in ("thproximal", "thmiddle", "thdistal")}
        self._table_geoms = {g for g in range(model.ngeom) if model.geom_bodyid[g] == model.body("table").id}
        self._rest_height = HANDLE_RADIUS

    # ---- randomisation ----------------------------------------------------------------------
    def _randomise(self, rng: np.random.Generator) -> None:
        m = self.model
        m.body_pos[self._board] = [rng.uniform(-0.22, -0.12), rng.uniform(0.02, 0.10), rng.uniform(0.05, 0.09)]
        # Hammer pose: its free joints are slides from the body's nominal pose plus rotations.
        # The hammer body's axes are world x, z, -y (it lies on its side), and so are the
        # axes of its slide and hinge joints: OBJTz moves it along world -y, OBJRy yaws it.
        q = self.data.qpos
        q[self._hammer_qpos + 0] = rng.uniform(-0.06, 0.08)
        q[self._hammer_qpos + 2] = -rng.uniform(-0.05, 0.04)
        q[self._hammer_qpos + 4] = rng.uniform(-0.25, 0.25)

    # ---- task state -------------------------------------------------------------------------
    @property
    def nail_depth(self) -> float:
        return float(self.data.qpos[self._nail_qpos])

    def hammer_pos(self) -> np.ndarray:
        return self.data.xpos[self._hammer].copy()

    def face_pos(self) -> np.ndarray:
        return self.data.site_xpos[self._tool_site].copy()

    def nail_head_pos(self) -> np.ndarray:
        return self.data.site_xpos[self._nail_head_site].copy()

    def object_state(self) -> np.ndarray:
        return np.concatenate([self.hammer_pos(), self.data.xquat[self._hammer], self.face_pos(),
                               self.nail_head_pos(), [self.nail_depth]])

    def hand_contacts(self) -> tuple[int, bool, bool]:
        """(hand bodies touching the hammer, thumb among them, hammer touching the table)."""
        m, d = self.model, self.data
        touching, thumb, on_table = set(), False, False
        for c in d.contact[: d.ncon]:
            b1, b2 = m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]
            if self._hammer not in (b1, b2):
                continue
            other_body = b2 if b1 == self._hammer else b1
            other_geom = c.geom2 if b1 == self._hammer else c.geom1
            if other_body in self._hand_bodies:
                touching.add(other_body)
                thumb |= other_body in self._thumb_bodies
            if other_geom in self._table_geoms:
                on_table = True
        return len(touching), thumb, on_table

    def is_held(self) -> bool:
        n_touching, thumb, on_table = self.hand_contacts()
        lifted = self.hammer_pos()[2] > self._rest_height + HELD_HEIGHT
        return lifted and not on_table and n_touching >= 3

    def is_aligned(self) -> bool:
        face, nail = self.face_pos(), self.nail_head_pos()
        return (np.linalg.norm(face[:2] - nail[:2]) < ALIGN_TOLERANCE
                and 0.0 < face[2] - nail[2] < 0.08)

    def is_success(self) -> bool:
        distance = np.linalg.norm(self.data.site_xpos[self._nail_head_site] - self.data.site_xpos[self._goal_site])
        return bool(distance < SUCCESS_DISTANCE)

    def stage_reached(self) -> str:
        if not self.is_held():
            return "init"
        if self.nail_depth >= NAIL_STARTED_DEPTH:
            return "nail_started"
        if self.is_aligned():
            return "aligned"
        return "grasped"

    def twist_to_joint(self) -> np.ndarray:
        # Slides are world-aligned; ARRx turns about world -x (pitch), ARRy about world +z (yaw).
        t = np.zeros((5, 6))
        t[0, 0] = t[1, 1] = t[2, 2] = 1.0
        t[3, 3] = -1.0
        t[4, 5] = 1.0
        return t
