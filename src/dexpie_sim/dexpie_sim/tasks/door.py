"""Door: press the lever handle down to free the latch, then push the door open.

Scene: Adroit's door model (gymnasium-robotics, Apache-2.0), edited with `mujoco.MjSpec`:

- The stock door opens towards the hand and its handle leaves the arm's reach past ~1.1 rad
  (success needs 1.35). Here the door hinge axis is flipped so the door opens AWAY from the
  hand (a push door): after unlatching, the hand pushes the door along its arc instead of
  dragging it, which the arm can follow all the way.
- The latch bolt sits behind the door; a strike plate on the frame behind the bolt now keeps
  the door shut until the lever is turned past ~1.05 rad (the bolt then rises above it).
  The latch has friction and no return spring (as in the stock model): once turned it stays
  turned. Its friction is lower than the stock 5 N m so that the hand's press (~25 N at the
  lever) turns it.
- The lever stands 0.16 m off the door's face (stock: 0.1) so the fingers fit in front of it.
- The forearm gets two more slides (ARTx: world x, ARTy: world z) with the same affine
  actuators as Adroit relocate's arm, and a longer ARTz (world y), so the hand can follow the
  lever and the door. Arm = ARTx ARTy ARTz ARRx ARRy ARRz (spacemouse); the 24 hand joints
  (wrist WRJ1/WRJ0 and the fingers) follow the glove.

Cameras: "door_view" (hand, lever and the door's swing) and the stock "fixed" one.

Randomised from the seed: the door frame's position (x, y, z) and the latch and hinge
friction (`body_pos`, `dof_frictionloss`; snapshots carry both).

Stages (read from the scene):
  init           - anything before the others;
  hand_on_handle - the hand touches the lever handle (latch still shut);
  unlatched      - the lever is turned past the bolt's clearance (or the door already moved);
  partly_open    - the door is open more than `partly_open_angle`.
Success: the door is open more than `success_angle` (1.2 rad, ~70 degrees).
"""
from __future__ import annotations

import mujoco
import numpy as np

from dexpie_sim.assets import adroit_xml
from dexpie_sim.controller import PDGains
from dexpie_sim.tasks.adroit import ADROIT_HAND_JOINTS, palm_twist_map
from dexpie_sim.tasks.base import HandTask, TaskSpec

ARM_JOINTS = ("ARTx", "ARTy", "ARTz", "ARRx", "ARRy", "ARRz")
FINGER_JOINTS = ADROIT_HAND_JOINTS
OBJECT_NAMES = ("door_angle", "door_velocity", "latch_angle", "latch_velocity",
                "handle_x", "handle_y", "handle_z",
                "handle_from_palm_x", "handle_from_palm_y", "handle_from_palm_z",
                "hinge_x", "hinge_y", "hinge_z")

# Arm joints of the edited scene: (name, axis in the forearm frame, range). The forearm's
# frame maps x -> world -x, y -> world z, z -> world y.
_ARM_LAYOUT = (("ARTx", mujoco.mjtJoint.mjJNT_SLIDE, (-1.0, 0.0, 0.0), (-0.5, 0.7)),
               ("ARTy", mujoco.mjtJoint.mjJNT_SLIDE, (0.0, 1.0, 0.0), (-0.3, 0.5)),
               ("ARTz", mujoco.mjtJoint.mjJNT_SLIDE, (0.0, 0.0, 1.0), (-0.3, 1.0)),
               ("ARRx", mujoco.mjtJoint.mjJNT_HINGE, (1.0, 0.0, 0.0), (-0.75, 0.75)),
               ("ARRy", mujoco.mjtJoint.mjJNT_HINGE, (0.0, 1.0, 0.0), (-0.75, 0.75)),
               ("ARRz", mujoco.mjtJoint.mjJNT_HINGE, (0.0, 0.0, 1.0), (-1.0, 2.0)))
ARM_SLIDE_DAMPING = 20.0
# Stock hinges have 20 N m s/rad, which caps the forearm's roll (small inertia, so a small
# servo torque) at ~0.4 rad/s: too slow to turn a lever by hand.
ARM_HINGE_DAMPING = 5.0
# The controller's damping term is explicit and scaled by the diagonal inertia only; with
# the lighter hinge damping above, the default kd = 40 makes the coupled arm unstable.
ARM_GAINS = PDGains(kp=400.0, kd=30.0)
# Strike plate on the frame, behind the bolt (frame coordinates, metres): the bolt clears its
# top edge once the lever is turned past ~1.05 rad.
STRIKE_POS = (-0.03, 0.175, 0.02)
STRIKE_HALF_SIZE = (0.05, 0.03, 0.105)

ARM_START_SLIDES = (0.1, 0.3, -0.12)         # ARTx, ARTy, ARTz at the start (m)
ARM_START_JITTER = 0.03                       # m, uniform +- on each start slide
LEVER_STANDOFF = 0.21                         # m, lever axis in front of the door's mid-plane
CAMERA = "door_view"
CAMERA_POS = (-0.55, -0.75, 0.95)
CAMERA_TARGET = (0.2, 0.05, 0.35)
FRAME_JITTER = np.array([0.05, 0.04, 0.04])   # m, uniform +- on the frame's x, y, z
LATCH_FRICTION_RANGE = (2.0, 3.5)             # N m (stock: 5)
HINGE_FRICTION_RANGE = (1.5, 2.5)             # N m (stock: 2)


def build_door_model() -> mujoco.MjModel:
    """Compile the edited Adroit door scene (push door, strike plate, 6-DoF arm)."""
    spec = mujoco.MjSpec.from_file(str(adroit_xml("adroit_door.xml")))
    forearm = spec.body("forearm")
    # Joints of a body act in the order they are listed, so the stock arm joints are removed
    # and all six re-added with the slides first (the hinges then turn about the moved origin).
    for name in ("ARTz", "ARRx", "ARRy", "ARRz"):
        spec.delete(spec.joint(name))
    for actuator in [a for a in spec.actuators if a.name.startswith("A_AR")]:
        spec.delete(actuator)
    for name, kind, axis, limits in _ARM_LAYOUT:
        damping = ARM_SLIDE_DAMPING if kind == mujoco.mjtJoint.mjJNT_SLIDE else ARM_HINGE_DAMPING
        forearm.add_joint(name=name, type=kind, axis=list(axis), range=list(limits), damping=damping)
        spec.add_actuator(name=f"A_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT,
                          ctrllimited=1, ctrlrange=list(limits), biastype=mujoco.mjtBias.mjBIAS_AFFINE,
                          gainprm=[500.0] + [0.0] * 9, biasprm=[0.0, -200.0] + [0.0] * 8)
    hinge = spec.joint("door_hinge")
    hinge.axis = [0.0, 0.0, -1.0]     # positive angle now swings the door away from the hand
    # The stock joints inherit a 0.01 limit margin: the hinge's limit then pushes the door
    # off its stop while it rests closed against the strike, jamming the bolt.
    hinge.margin = 0.0
    spec.joint("latch").margin = 0.0
    # The lever stands further off the door (0.16 m from its face instead of 0.1) so that a
    # hand lying on it has room for its fingers in front of the door.
    latch = spec.body("latch")
    hub, lever = latch.geoms[0], latch.geoms[1]
    hub.size = [hub.size[0], LEVER_STANDOFF, 0.0]
    lever.pos = [lever.pos[0], -LEVER_STANDOFF, lever.pos[2]]
    spec.site("S_handle").pos = [0.15, -LEVER_STANDOFF, 0.0]
    spec.body("frame").add_geom(name="strike", type=mujoco.mjtGeom.mjGEOM_BOX, pos=list(STRIKE_POS),
                                size=list(STRIKE_HALF_SIZE), rgba=[0.45, 0.45, 0.5, 1.0],
                                friction=[0.2, 0.005, 0.0001])   # smooth metal plate
    # A camera that sees the hand, the lever and the door's swing (the stock ones look at
    # the table).
    spec.worldbody.add_camera(name=CAMERA, pos=list(CAMERA_POS), xyaxes=list(_look_at(CAMERA_POS, CAMERA_TARGET)))
    return spec.compile()


def _look_at(position, target) -> np.ndarray:
    """Camera `xyaxes` (right, up) for a camera at `position` looking at `target`."""
    forward = np.asarray(target, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    return np.concatenate([right, np.cross(right, forward)])


class DoorTask(HandTask):
    spec = TaskSpec(
        name="door",
        stages=("init", "hand_on_handle", "unlatched", "partly_open"),
        max_episode_steps=250,
        arm_joints=ARM_JOINTS,
        finger_joints=FINGER_JOINTS,
        object_names=OBJECT_NAMES,
        description="Press the door's lever handle down to free the latch, then push the door open.",
    )
    randomised_fields = ("body_pos", "dof_frictionloss")
    unlatch_angle = 1.1          # rad of lever turn; the bolt clears the strike at ~1.05
    door_moved_angle = 0.05      # rad; a door open this far was necessarily unlatched
    partly_open_angle = 0.5      # rad
    success_angle = 1.2          # rad (~70 degrees: the doorway is clear for the hand)

    def _build_model(self) -> mujoco.MjModel:
        return build_door_model()

    def __init__(self, *args, gains: PDGains = ARM_GAINS, **kwargs):
        super().__init__(*args, gains=gains, **kwargs)
        m = self.model
        self.frame_body = m.body("frame").id
        self.palm_body = m.body("palm").id
        self.handle_site = m.site("S_handle").id
        hinge, latch = m.joint("door_hinge"), m.joint("latch")
        self.hinge_joint = hinge.id
        self._arm_qpos = np.array([m.joint(j).qposadr[0] for j in ARM_JOINTS])
        self.door_qpos, self.door_dof = int(hinge.qposadr[0]), int(hinge.dofadr[0])
        self.latch_qpos, self.latch_dof = int(latch.qposadr[0]), int(latch.dofadr[0])
        latch_body = m.body("latch").id
        self._latch_geoms = {g for g in range(m.ngeom) if m.geom_bodyid[g] == latch_body}
        # The hand: every body in the forearm's subtree.
        forearm = m.body("forearm").id
        in_hand = [b for b in range(m.nbody) if self._descends_from(b, forearm)]
        self._hand_geoms = {g for g in range(m.ngeom) if m.geom_bodyid[g] in in_hand}

    def _descends_from(self, body: int, ancestor: int) -> bool:
        while body > 0:
            if body == ancestor:
                return True
            body = int(self.model.body_parentid[body])
        return False

    # ---- randomisation ----------------------------------------------------------------------
    def _randomise(self, rng: np.random.Generator) -> None:
        m = self.model
        m.body_pos[self.frame_body] += rng.uniform(-FRAME_JITTER, FRAME_JITTER)
        m.dof_frictionloss[self.latch_dof] = rng.uniform(*LATCH_FRICTION_RANGE)
        m.dof_frictionloss[self.door_dof] = rng.uniform(*HINGE_FRICTION_RANGE)
        # The hand starts raised to about the handle's height, a little back from the door.
        start = np.array(ARM_START_SLIDES) + rng.uniform(-ARM_START_JITTER, ARM_START_JITTER, 3)
        self.data.qpos[self._arm_qpos[:3]] = start

    # ---- scene readings -----------------------------------------------------------------------
    def door_angle(self) -> float:
        return float(self.data.qpos[self.door_qpos])

    def latch_angle(self) -> float:
        return float(self.data.qpos[self.latch_qpos])

    def handle_position(self) -> np.ndarray:
        return self.data.site_xpos[self.handle_site].copy()

    def palm_position(self) -> np.ndarray:
        return self.data.xpos[self.palm_body].copy()

    def hinge_position(self) -> np.ndarray:
        return self.data.xanchor[self.hinge_joint].copy()

    def hand_touches_handle(self) -> bool:
        d = self.data
        for i in range(d.ncon):
            g1, g2 = int(d.contact[i].geom[0]), int(d.contact[i].geom[1])
            if (g1 in self._hand_geoms and g2 in self._latch_geoms) or \
                    (g2 in self._hand_geoms and g1 in self._latch_geoms):
                return True
        return False

    def object_state(self) -> np.ndarray:
        d = self.data
        handle = self.handle_position()
        return np.concatenate([[self.door_angle(), d.qvel[self.door_dof], self.latch_angle(), d.qvel[self.latch_dof]],
                               handle, handle - self.palm_position(), self.hinge_position()])

    # ---- task conditions ------------------------------------------------------------------------
    def is_unlatched(self) -> bool:
        return self.latch_angle() >= self.unlatch_angle or self.door_angle() >= self.door_moved_angle

    def is_success(self) -> bool:
        return self.door_angle() >= self.success_angle

    def stage_reached(self) -> str:
        if self.door_angle() >= self.partly_open_angle:
            return "partly_open"
        if self.is_unlatched():
            return "unlatched"
        return "hand_on_handle" if self.hand_touches_handle() else "init"

    # ---- teleoperation ----------------------------------------------------------------------------
    def twist_to_joint(self) -> np.ndarray:
        """World twist of the hand -> arm joint velocities. The slides move the forearm along
        world x, z, y; see `palm_twist_map`."""
        return palm_twist_map(self.model, ARM_JOINTS[:3], ARM_JOINTS[3:])
