"""What the Adroit-hand tasks share: the hand's joints and the spacemouse map of an arm made
of slides followed by hinges."""
from __future__ import annotations

import mujoco
import numpy as np

# The 24 hand joints (wrist WRJ1/WRJ0 and the fingers), driven by the glove in every task.
ADROIT_HAND_JOINTS = ("WRJ1", "WRJ0",
                      "FFJ3", "FFJ2", "FFJ1", "FFJ0",
                      "MFJ3", "MFJ2", "MFJ1", "MFJ0",
                      "RFJ3", "RFJ2", "RFJ1", "RFJ0",
                      "LFJ4", "LFJ3", "LFJ2", "LFJ1", "LFJ0",
                      "THJ4", "THJ3", "THJ2", "THJ1", "THJ0")


def palm_twist_map(model: mujoco.MjModel, slide_joints: tuple[str, str, str],
                   hinge_joints: tuple[str, ...], palm_body: str = "palm") -> np.ndarray:
    """(3 + n_hinges, 6) map from a world twist of the palm [v; w] to arm joint velocities,
    linearised at the arm's zero pose.

    The hinges turn the forearm about its origin, some way behind the palm, so a rotation
    also swings the palm: the slides compensate with -w x r so that the palm turns in place,
    as a spacemouse user expects. Palm velocity v = S^T qs + w x r with w = H^T qh, hence
    qh = H w and qs = S (v - w x r), for orthonormal slide axes S and hinge axes H.
    """
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    slides = [model.joint(name).id for name in slide_joints]
    hinges = [model.joint(name).id for name in hinge_joints]
    slide_axes = np.array([data.xaxis[j] for j in slides])     # rows: world directions
    hinge_axes = np.array([data.xaxis[j] for j in hinges])
    r = data.xpos[model.body(palm_body).id] - data.xanchor[hinges[0]]
    r_cross = np.array([[0, -r[2], r[1]], [r[2], 0, -r[0]], [-r[1], r[0], 0]])
    out = np.zeros((3 + len(hinges), 6))
    out[:3, :3] = slide_axes
    out[:3, 3:] = slide_axes @ r_cross        # -(w x r) = r x w
    out[3:, 3:] = hinge_axes
    return out
