import mujoco
import numpy as np

from dexpie_sim.scene_markers import CUBE, CYLINDER, SPHERE, scene_primitives

XML = """<mujoco><worldbody>
  <geom name="ball" type="sphere" size="0.05" pos="0 0 1" rgba="1 0 0 1"/>
  <geom name="rod" type="capsule" size="0.02 0.1" pos="1 0 0" euler="0 90 0" rgba="0 1 0 0"/>
  <geom name="crate" type="box" size="0.1 0.2 0.3" pos="0 1 0"/>
  <geom name="floor" type="plane" size="1 1 0.1"/>
</worldbody></mujoco>"""


def test_primitives_are_placed_sized_and_coloured_for_rviz():
    model = mujoco.MjModel.from_xml_string(XML)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    shapes = {s.name: s for s in scene_primitives(model, data)}
    assert set(shapes) == {"ball", "rod", "crate"}          # the plane is left out
    ball, rod, crate = shapes["ball"], shapes["rod"], shapes["crate"]
    assert ball.kind == SPHERE and np.allclose(ball.scale, 0.1) and np.allclose(ball.position, [0, 0, 1])
    assert rod.kind == CYLINDER and np.allclose(rod.scale, [0.04, 0.04, 0.24])
    assert rod.rgba[3] == 0.4                                  # invisible geoms drawn translucent
    # rotated 90 degrees about y: (x, y, z, w) = (0, sin 45, 0, cos 45)
    assert np.allclose(np.abs(rod.quaternion), [0, np.sqrt(0.5), 0, np.sqrt(0.5)])
    assert crate.kind == CUBE and np.allclose(crate.scale, [0.2, 0.4, 0.6])
