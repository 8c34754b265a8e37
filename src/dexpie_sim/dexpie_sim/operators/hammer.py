"""Simulated operator for the hammer task: pick the hammer up by its handle, hold its face
over the nail, and strike down until the nail is in.

The phase comes from the scene every tick:
- hammer not held: hover over the handle (yawed like the hammer), descend with an open hand,
  close the fingers around the handle, lift once the fingers and thumb touch it; a closed hand
  that touches nothing opens and rises again;
- hammer held: bring its face above the nail head (rising first if it is low and off to the
  side), then strike: down towards a point below the nail head, back up once the face is on
  the nail and the nail has stopped going in, down again, until the nail is in (1-3 blows).
The only memory is the strike direction (hysteresis between "down" and "up"), the smoothed
finger command and the takeover watch; all restart from the scene after `reset()`.

The arm plan is a Cartesian correction in joint space: the arm's three slides are
world-aligned, so the desired slide positions are the (delayed) measured ones plus the error
of the controlled point (the grasp site, or the hammer face once held).
"""
from __future__ import annotations

import numpy as np

from dexpie_sim.operators.base import OperatorConfig, OperatorIntent, SimOperator

FINGERS_OPEN = {}
FINGERS_CLOSED = {"THJ4": 0.6, "THJ3": 1.1, "THJ2": 0.1, "THJ1": 0.4, "THJ0": -0.6}
for _f in ("FF", "MF", "RF", "LF"):
    FINGERS_CLOSED.update({f"{_f}J2": 1.0, f"{_f}J1": 1.4, f"{_f}J0": 1.1})

# Grasp site (palm centre, 5 cm under the palm) relative to the handle centre, in the
# hammer's yaw frame: 4 cm behind the handle so the fingers wrap around it, palm on top.
GRASP_OFFSET = np.array([0.0, -0.04, -0.012])
HOVER = 0.08               # approach height over the grasp pose
LIFT = 0.08                # lift target above the grasp height
STRIKE_CLEARANCE = 0.045   # face above the nail head before a strike
FOLLOW_THROUGH = 0.04      # strike aims this far below the nail head
CONTACT_GAP = 0.012        # face-to-nail-head gap at which the face has met the nail
NAIL_STALLED_SPEED = 0.02  # m/s: the nail has stopped going in under this blow
XY_TOLERANCE = 0.01        # horizontal error that allows descending / striking
FINGER_RATE = 0.15         # rad per tick: fingers close over ~0.3 s, like a person's
NO_PROGRESS_TICKS = 90


class HammerOperator(SimOperator):
    default_config = OperatorConfig()
    grasp_offset = GRASP_OFFSET
    hover = HOVER
    strike_clearance = STRIKE_CLEARANCE
    # How people's plans differ (1 sd): where they grip the handle, how high they approach,
    # how far above the nail they start a blow (operators/profile.py).
    strategy_spread = {"grasp_offset": np.array([0.005, 0.005, 0.003]), "hover": 0.015,
                       "strike_clearance": 0.008}

    def __init__(self, task, teleop, config: OperatorConfig = OperatorConfig(), seed: int = 0):
        super().__init__(task, teleop, config, seed)
        names = task.spec.finger_joints
        self._open = np.array([FINGERS_OPEN.get(n, 0.0) for n in names])
        self._closed = np.array([FINGERS_CLOSED.get(n, 0.0) for n in names])
        # Flexion joints of the four fingers: how closed the hand is.
        self._flex = np.array([n[:2] in ("FF", "MF", "RF", "LF") and n in FINGERS_CLOSED for n in names])
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._striking_down = False
        self._fingers: np.ndarray | None = None
        self._was_held = False
        self._best_progress = -np.inf
        self._ticks_without_progress = 0

    # ---- perception -----------------------------------------------------------------------
    def perceive(self) -> dict:
        t = self.task
        d = t.data
        n_touching, thumb, on_table = t.hand_contacts()
        q = t.controller.joint_positions(d)
        n_arm = len(t.spec.arm_joints)
        return dict(
            arm=q[:n_arm], fingers=q[n_arm:],
            grasp=d.site_xpos[t._grasp_site].copy(), face=t.face_pos(),
            hammer=t.hammer_pos(), handle_axis=d.xmat[t._hammer].reshape(3, 3)[:, 0].copy(),
            nail_head=t.nail_head_pos(), nail_depth=t.nail_depth,
            nail_speed=float(d.qvel[t.model.jnt_dofadr[t.model.joint("nail_dir").id]]),
            touching=n_touching, thumb=thumb, on_table=on_table, held=t.is_held(),
            stage=t.stage_reached(), success=t.is_success(),
        )

    # ---- plan ---------------------------------------------------------------------------
    def plan(self, scene: dict) -> OperatorIntent:
        if scene["held"]:
            point, target, yaw, fingers = self._strike_plan(scene)
        else:
            point, target, yaw, fingers = self._grasp_plan(scene)
        arm = scene["arm"].copy()
        arm[:3] += target - point
        arm[3] = 0.0
        if yaw is not None:
            arm[4] = yaw
        return OperatorIntent(arm=arm, fingers=self._smooth_fingers(scene, fingers))

    def _grasp_plan(self, s: dict):
        self._striking_down = False
        axis = s["handle_axis"]
        yaw = float(np.arctan2(axis[1], axis[0]))
        c, sn = np.cos(yaw), np.sin(yaw)
        offset = np.array([c * self.grasp_offset[0] - sn * self.grasp_offset[1],
                           sn * self.grasp_offset[0] + c * self.grasp_offset[1], self.grasp_offset[2]])
        goal = s["hammer"] + offset
        hand = s["grasp"]
        xy_error = np.linalg.norm(goal[:2] - hand[:2])
        flex = self._closed[self._flex]
        commanded = self._fingers if self._fingers is not None else s["fingers"]
        glove_closed = np.mean(commanded[self._flex] / flex) > 0.95
        fist = np.mean(s["fingers"][self._flex] / flex) > 0.9     # closed on nothing
        wrapped = s["touching"] >= 3 and s["thumb"]
        at_grasp = xy_error < XY_TOLERANCE and abs(hand[2] - goal[2]) < 0.012
        if wrapped and glove_closed:
            return hand, goal + [0.0, 0.0, LIFT], yaw, self._closed       # lift
        if glove_closed and fist and not wrapped:
            return hand, hand + [0.0, 0.0, self.hover], yaw, self._open         # missed: open, rise
        # Once the fingers are closing they pull the handle towards the palm: keep closing
        # while the hand is still around it rather than re-aiming at the moving handle.
        closing = np.mean(commanded[self._flex] / flex) > 0.2 and np.linalg.norm(goal - hand) < 0.04
        if at_grasp or closing:
            return hand, goal, yaw, self._closed                            # close the hand
        if xy_error > XY_TOLERANCE:
            if hand[2] < goal[2] + self.hover - 0.03 and xy_error > 2 * XY_TOLERANCE:
                return hand, np.array([hand[0], hand[1], goal[2] + self.hover]), yaw, self._open
            return hand, goal + [0.0, 0.0, self.hover], yaw, self._open          # hover over handle
        return hand, goal, yaw, self._open                                  # descend

    def _strike_plan(self, s: dict):
        face, nail = s["face"], s["nail_head"]
        xy_error = np.linalg.norm(nail[:2] - face[:2])
        gap = face[2] - nail[2]
        above = nail + [0.0, 0.0, self.strike_clearance]
        if xy_error > XY_TOLERANCE:
            self._striking_down = False
            if gap < 0.0 and xy_error > 2 * XY_TOLERANCE:
                # Below the nail head and beside it: rise before moving across.
                return face, np.array([face[0], face[1], above[2]]), None, self._closed
            return face, above, None, self._closed
        if self._striking_down and gap < CONTACT_GAP and s["nail_speed"] < NAIL_STALLED_SPEED:
            self._striking_down = False              # the blow has spent itself: back up
        elif not self._striking_down and gap > self.strike_clearance - 0.01:
            self._striking_down = True
        if self._striking_down:
            return face, nail - [0.0, 0.0, FOLLOW_THROUGH], None, self._closed
        return face, above, None, self._closed

    def _smooth_fingers(self, s: dict, desired: np.ndarray) -> np.ndarray:
        """Move the glove hand towards the desired pose at a human rate."""
        if self._fingers is None:
            self._fingers = s["fingers"].copy()
        step = np.clip(desired - self._fingers, -FINGER_RATE, FINGER_RATE)
        self._fingers = self._fingers + step
        return self._fingers.copy()

    # ---- takeover ---------------------------------------------------------------------------
    def failure_seen(self, scene: dict) -> bool:
        """A watcher steps in when the hammer is dropped, turns in the hand, is driven beside
        the nail, or when nothing has advanced for ~3 s."""
        held = scene["held"]
        dropped = self._was_held and not held and scene["touching"] < 2
        self._was_held = self._was_held or held
        tilted = held and abs(scene["handle_axis"][2]) > 0.35
        face, nail = scene["face"], scene["nail_head"]
        # Striking beside the nail: face down at the nail head's height, next to it.
        miss = np.linalg.norm(face[:2] - nail[:2])
        off_target = held and abs(face[2] - nail[2]) < 0.02 and 0.025 < miss < 0.08
        stage_rank = self.task.spec.stages.index(scene["stage"])
        progress = stage_rank + 10.0 * scene["nail_depth"]
        if progress > self._best_progress + 1e-3:
            self._best_progress = progress
            self._ticks_without_progress = 0
        else:
            self._ticks_without_progress += 1
        stalled = self._ticks_without_progress > NO_PROGRESS_TICKS
        return bool(dropped or tilted or off_target or stalled)
