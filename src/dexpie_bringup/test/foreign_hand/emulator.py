"""Hardware emulator of the foreign hand (a test fixture; DexPIE knows nothing of it).

It behaves like the hand's ros2_control stack, nothing more:
- a joint_state_broadcaster: /joint_states (positions, velocities, in the model's own joint
  order) at the hand's loop rate, stamped with the wall clock;
- a forward_command_controller named hand_position_controller: position targets on
  /hand_position_controller/commands (std_msgs/Float64MultiArray, spec.COMMAND_JOINTS order).
No other topic, no service. The physics: MuJoCo, a model made of primitives (a table, a
spring-loaded button, a 6-joint arm with a 16-joint four-finger hand), advanced by one loop
period per tick in real time.

What a person standing next to it sees (the hand's pose, the button) is written to
<state-dir>/state.json after each tick (atomically), for the scripted person only.

    python emulator.py --state-dir DIR
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import mujoco
import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spec  # noqa: E402


def _finger(name: str, x: float, y: float) -> str:
    xml = f'<body name="{name}_0" pos="{x} {y} -0.01">'
    for k in range(4):
        if k:
            xml += f'<body name="{name}_{k}" pos="0 0 -0.02">'
        xml += (f'<joint name="{name}_{k}" type="hinge" axis="0 1 0" range="{spec.FINGER_LOWER} '
                f'{spec.FINGER_UPPER}" damping="1" armature="0.01"/>'
                f'<geom type="capsule" fromto="0 0 0 0 0 -0.02" size="0.006"/>')
    return xml + "</body>" * 4


def model_xml() -> str:
    arm_axes = {"arm_x": ("slide", "1 0 0"), "arm_y": ("slide", "0 1 0"), "arm_z": ("slide", "0 0 1"),
                "arm_roll": ("hinge", "1 0 0"), "arm_pitch": ("hinge", "0 1 0"), "arm_yaw": ("hinge", "0 0 1")}
    arm = "".join(f'<joint name="{n}" type="{kind}" axis="{axis}" range="{lo} {hi}" '
                  f'damping="{60 if kind == "slide" else 3}" armature="{0 if kind == "slide" else 0.05}"/>'
                  for (n, (kind, axis)), lo, hi in zip(arm_axes.items(), spec.ARM_LOWER, spec.ARM_UPPER))
    fingers = "".join(_finger(f, x, y) for f, x, y in
                      (("index", 0.02, 0.02), ("middle", 0.02, -0.02), ("ring", -0.02, -0.02),
                       ("thumb", -0.02, 0.02)))
    actuators = "".join(
        f'<position name="{n}" joint="{n}" kp="{2000 if n in ("arm_x", "arm_y", "arm_z") else (50 if n in spec.ARM else 20)}" '
        f'ctrlrange="{lo} {hi}"/>' for n, lo, hi in zip(spec.COMMAND_JOINTS, spec.LOWER, spec.UPPER))
    bx, by = spec.BUTTON_XY
    return f"""
<mujoco model="{spec.NAME}">
  <option timestep="0.002" integrator="implicitfast"/>
  <worldbody>
    <geom name="table" type="plane" size="1 1 0.01"/>
    <body name="button_base" pos="{bx} {by} 0.02">
      <geom type="box" size="0.05 0.05 0.02"/>
      <body name="button" pos="0 0 0.03">
        <joint name="button" type="slide" axis="0 0 1" range="-0.03 0" stiffness="300" damping="10"/>
        <geom name="button_cap" type="box" size="0.04 0.04 0.01" mass="0.05"/>
      </body>
    </body>
    <body name="mount" pos="0 0 0.1" gravcomp="1">
      {arm}
      <geom name="palm" type="box" size="0.035 0.035 0.01" mass="0.3"/>
      {fingers}
    </body>
  </worldbody>
  <contact><exclude body1="button_base" body2="button"/></contact>
  <actuator>{actuators}</actuator>
</mujoco>"""


class HandEmulator(Node):
    def __init__(self, state_dir: Path, rate_hz: float):
        super().__init__("foreign_hand_hardware")
        self.model = mujoco.MjModel.from_xml_string(model_xml())
        for body in range(self.model.nbody):   # the whole hand is gravity compensated
            if body >= self.model.body("mount").id:
                self.model.body_gravcomp[body] = 1.0
        self.data = mujoco.MjData(self.model)
        self.qadr = {n: self.model.joint(n).qposadr[0] for n in spec.COMMAND_JOINTS + ("button",)}
        self.dadr = {n: self.model.joint(n).dofadr[0] for n in spec.COMMAND_JOINTS}
        for name, value in zip(spec.COMMAND_JOINTS, spec.HOME):
            self.data.qpos[self.qadr[name]] = value
        self.data.ctrl[:] = spec.HOME          # actuators are in COMMAND_JOINTS order
        mujoco.mj_forward(self.model, self.data)
        self.substeps = max(1, round(1.0 / (rate_hz * self.model.opt.timestep)))
        self.state_path = state_dir / "state.json"
        self.commands = 0
        self.pub = self.create_publisher(JointState, "/joint_states", 10)
        self.create_subscription(Float64MultiArray, "/hand_position_controller/commands", self._on_command, 10)
        self.create_timer(1.0 / rate_hz, self._tick)

    def _on_command(self, msg: Float64MultiArray) -> None:
        values = np.asarray(msg.data, float)
        if values.shape != (len(spec.COMMAND_JOINTS),) or not np.all(np.isfinite(values)):
            self.get_logger().warning(f"command of {values.shape} values ignored", throttle_duration_sec=2.0)
            return
        self.data.ctrl[:] = np.clip(values, spec.LOWER, spec.UPPER)
        self.commands += 1

    def _tick(self) -> None:
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = list(spec.BROADCAST_JOINTS)
        msg.position = [float(self.data.qpos[self.qadr[n]]) for n in spec.BROADCAST_JOINTS]
        msg.velocity = [float(self.data.qvel[self.dadr[n]]) for n in spec.BROADCAST_JOINTS]
        self.pub.publish(msg)
        depth = -float(self.data.qpos[self.qadr["button"]])
        seen = {"time": float(self.data.time), "commands": self.commands,
                "q": {n: float(self.data.qpos[self.qadr[n]]) for n in spec.COMMAND_JOINTS},
                "button_depth": depth, "pressed": spec.pressed(depth)}
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(seen))
        os.replace(temporary, self.state_path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=spec.RATE_HZ)
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    rclpy.init()
    node = HandEmulator(args.state_dir, args.rate)
    print(f"foreign hand hardware up: {len(spec.BROADCAST_JOINTS)} joints at {args.rate} Hz", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
