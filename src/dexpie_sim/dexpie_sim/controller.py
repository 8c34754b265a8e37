"""Low-level joint position controller of the twin: joint targets -> actuator commands.

The twin's robot-side interface is joint position targets, as with ros2_control position
controllers. Adroit's finger and wrist actuators are position servos already
(force = kp*ctrl - kp*q), so their target is their command. Adroit's arm actuators are not
(force = 500*ctrl - 200*q, and gravity alone is ~48 N), so for them this controller computes
the command that yields gravity compensation + a PD law scaled by the joint's inertia:

    tau* = qfrc_bias + M_jj * (kp * (q* - q) - kd * qdot)
    ctrl = (tau* - bias0 - bias1*q - bias2*qdot) / gain0
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class PDGains:
    """PD gains in units of acceleration: natural frequency and damping per unit inertia."""
    kp: float = 400.0   # 1/s^2  (omega = 20 rad/s)
    kd: float = 40.0    # 1/s    (critical damping: 2*omega)


class JointTargetController:
    """Turns joint position targets of named joints into `data.ctrl` each physics substep.

    Args:
        model: the compiled MuJoCo model.
        joint_names: robot joints, in the order targets are given. Each must be driven by
            exactly one affine (`general`, biastype affine) actuator.
        servo_joints: joints whose actuators get a gravity-compensated PD command instead of
            the raw target (Adroit arm joints).
        gains: PD gains of the servo joints.
    """

    def __init__(self, model: mujoco.MjModel, joint_names: list[str], servo_joints: list[str],
                 gains: PDGains = PDGains()):
        self.model = model
        self.joint_names = list(joint_names)
        self.gains = gains
        unknown = set(servo_joints) - set(joint_names)
        if unknown:
            raise ValueError(f"servo joints {sorted(unknown)} are not among the robot joints")
        joint_to_actuator = {}
        for a in range(model.nu):
            if model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT:
                joint_to_actuator[int(model.actuator_trnid[a, 0])] = a
        self.actuator_ids = np.zeros(len(joint_names), dtype=int)
        self.qpos_adr = np.zeros(len(joint_names), dtype=int)
        self.dof_adr = np.zeros(len(joint_names), dtype=int)
        for i, name in enumerate(joint_names):
            jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
            if jid < 0:
                raise ValueError(f"joint {name!r} is not in the model")
            if jid not in joint_to_actuator:
                raise ValueError(f"joint {name!r} has no actuator")
            self.actuator_ids[i] = joint_to_actuator[jid]
            self.qpos_adr[i] = model.jnt_qposadr[jid]
            self.dof_adr[i] = model.jnt_dofadr[jid]
        self.servo_mask = np.array([n in servo_joints for n in joint_names], dtype=bool)
        # The servo command is force-like (gravity feed-forward included) and would be cut
        # by Adroit's ctrlrange, which was sized for position-like commands.
        model.actuator_ctrllimited[self.actuator_ids[self.servo_mask]] = 0
        self.lower = model.jnt_range[[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n)
                                      for n in joint_names], 0].copy()
        self.upper = model.jnt_range[[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n)
                                      for n in joint_names], 1].copy()
        ctrl_range = model.actuator_ctrlrange[self.actuator_ids]
        limited = model.actuator_ctrllimited[self.actuator_ids].astype(bool)
        # Joints without a range keep the actuator's control range as their limits.
        no_range = self.lower >= self.upper
        self.lower[no_range] = np.where(limited[no_range], ctrl_range[no_range, 0], -np.inf)
        self.upper[no_range] = np.where(limited[no_range], ctrl_range[no_range, 1], np.inf)

    def clip(self, target: np.ndarray) -> np.ndarray:
        """Targets clipped to the joint limits (the hand_controller enforces the same on a robot)."""
        return np.clip(target, self.lower, self.upper)

    def joint_positions(self, data: mujoco.MjData) -> np.ndarray:
        return data.qpos[self.qpos_adr].copy()

    def joint_velocities(self, data: mujoco.MjData) -> np.ndarray:
        return data.qvel[self.dof_adr].copy()

    def apply(self, data: mujoco.MjData, target: np.ndarray) -> None:
        """Write `data.ctrl` for one physics substep towards `target` (already clipped)."""
        m = self.model
        ctrl = target.astype(float).copy()
        if self.servo_mask.any():
            act = self.actuator_ids[self.servo_mask]
            dof = self.dof_adr[self.servo_mask]
            q = data.qpos[self.qpos_adr[self.servo_mask]]
            qdot = data.qvel[dof]
            inertia = m.dof_M0[dof] if hasattr(m, "dof_M0") else np.ones_like(q)
            inertia = np.maximum(inertia, 1e-6)
            accel = self.gains.kp * (target[self.servo_mask] - q) - self.gains.kd * qdot
            tau = data.qfrc_bias[dof] + inertia * accel
            gain = m.actuator_gainprm[act, 0]
            bias = m.actuator_biasprm[act]
            ctrl[self.servo_mask] = (tau - bias[:, 0] - bias[:, 1] * q - bias[:, 2] * qdot) / gain
        lo = m.actuator_ctrlrange[self.actuator_ids, 0]
        hi = m.actuator_ctrlrange[self.actuator_ids, 1]
        limited = m.actuator_ctrllimited[self.actuator_ids].astype(bool)
        # The arm's computed command may legitimately exceed the actuator's ctrlrange (it
        # is a force-like quantity there); only the native servos are clipped.
        clip = limited & ~self.servo_mask
        ctrl[clip] = np.clip(ctrl[clip], lo[clip], hi[clip])
        data.ctrl[self.actuator_ids] = ctrl
