"""The twin's scene as simple shapes for RViz (pure: numpy + mujoco, no ROS).

A MuJoCo model has no URDF, so RViz cannot show the hand with a RobotModel display; the twin
publishes its primitive geoms (spheres, capsules, cylinders, boxes, ellipsoids: the hand's
collision shapes, the object, the table) as markers instead. Meshes and planes are left out.
`scene_primitives(model, data)` returns them in the world frame, sized as RViz markers want
(full extents, not MuJoCo's half sizes).
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

SPHERE, CYLINDER, CUBE = "sphere", "cylinder", "cube"
MIN_ALPHA = 0.4   # invisible collision geoms are drawn translucent rather than not at all


@dataclass(frozen=True)
class Primitive:
    """One shape. quaternion: (x, y, z, w) as in geometry_msgs; scale: full extents in m."""
    name: str
    kind: str
    position: np.ndarray
    quaternion: np.ndarray
    scale: np.ndarray
    rgba: np.ndarray


def _xyzw(rotation: np.ndarray) -> np.ndarray:
    wxyz = np.empty(4)
    mujoco.mju_mat2Quat(wxyz, np.asarray(rotation, float).reshape(9))
    return np.array([wxyz[1], wxyz[2], wxyz[3], wxyz[0]])


def scene_primitives(model: mujoco.MjModel, data: mujoco.MjData) -> list[Primitive]:
    """Every primitive geom of the scene as placed in `data` (after mj_forward/mj_step)."""
    shapes = []
    for geom in range(model.ngeom):
        kind = model.geom_type[geom]
        size = model.geom_size[geom]
        if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            shape, scale = SPHERE, np.full(3, 2 * size[0])
        elif kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
            shape, scale = SPHERE, 2 * size[:3]
        elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
            # A cylinder as long as the capsule, caps included: close enough to see the hand.
            shape, scale = CYLINDER, np.array([2 * size[0], 2 * size[0], 2 * (size[1] + size[0])])
        elif kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
            shape, scale = CYLINDER, np.array([2 * size[0], 2 * size[0], 2 * size[1]])
        elif kind == mujoco.mjtGeom.mjGEOM_BOX:
            shape, scale = CUBE, 2 * size[:3]
        else:
            continue
        rgba = np.array(model.geom_rgba[geom], float)
        rgba[3] = max(rgba[3], MIN_ALPHA)
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, geom) or f"geom{geom}"
        shapes.append(Primitive(name, shape, data.geom_xpos[geom].copy(), _xyzw(data.geom_xmat[geom]),
                                np.asarray(scale, float), rgba))
    return shapes
