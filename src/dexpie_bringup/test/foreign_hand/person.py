"""A scripted person at the foreign hand: the operator with the spacemouse and the glove.

It speaks to DexPIE only through the standard device topics, as the drivers would:
/spacenav/twist (geometry_msgs/Twist, axes in [-1, 1]), /spacenav/joy (sensor_msgs/Joy,
buttons [left, right]) and /teleop/glove/joint_states (sensor_msgs/JointState of the finger
joints, already retargeted), all at 50 Hz. It sees the scene through the emulator's
<state-dir>/state.json (a person looks at the hand and the button), and who is in control
through /intervention/state (what the RViz markers show a person). It never imports MuJoCo.

Commands, one per line on stdin; each is answered with one line on stdout:
    arrange <stage> [take]   drive the hand to the stage's start pose (take: first take control
                             with a button press, for the rollout graph) -> "arranged <stage>"
    demo                     press the button and lift the hand -> "done success|failure"
    watch <seconds> [takeover]
                             watch the policy act for <seconds>; with takeover, if it has not pressed the button
                             by then: button press (take over), press the button, button press
                             (hand back) -> "done success|failure [took-over]"
    quit
"""
from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from geometry_msgs.msg import Twist
from sensor_msgs.msg import JointState, Joy

from dexpie_msgs.msg import InterventionState

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spec  # noqa: E402

PERIOD = 0.02
# The spacemouse as the person feels it (the arbiter's deadband and full-deflection speeds).
DEADBAND, MAX_LINEAR, MAX_ANGULAR = 0.08, 0.25, 1.0


class Person:
    def __init__(self, state_dir: Path):
        self.state_path = state_dir / "state.json"
        rclpy.init()
        self.node = rclpy.create_node("scripted_person")
        self.twist_pub = self.node.create_publisher(Twist, "/spacenav/twist", 10)
        self.joy_pub = self.node.create_publisher(Joy, "/spacenav/joy", 10)
        self.glove_pub = self.node.create_publisher(JointState, "/teleop/glove/joint_states", 10)
        self.control = None     # InterventionState.source last seen
        self.in_control = False  # the person means to command the hand now
        self._hold_since = None
        self._pressing = 0
        self.node.create_subscription(InterventionState, "/intervention/state", self._on_state, 10)
        self.seen = None
        self.pressed_seen = False
        self.commands = queue.Queue()
        threading.Thread(target=self._read_stdin, daemon=True).start()

    def _on_state(self, msg) -> None:
        self.control = msg.source
        if msg.source != InterventionState.SOURCE_SAFETY_HOLD:
            self._hold_since = None
        elif self._hold_since is None:
            self._hold_since = time.monotonic()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            self.commands.put(line.split())
        self.commands.put(["quit"])

    # ---- one device tick ---------------------------------------------------------------------
    def step(self, axes=(0.0,) * 6, buttons=(0, 0)) -> dict | None:
        deadline = time.monotonic() + PERIOD
        # The hand holds (the devices' messages came late): press the button to resume, as
        # the README tells an operator.
        if (self.in_control and self._hold_since is not None and not self._pressing
                and time.monotonic() - self._hold_since > 0.3):
            self._pressing, self._hold_since = 4, time.monotonic() + 0.5
        if self._pressing:
            self._pressing -= 1
            buttons = (1, 0)
        twist = Twist()
        (twist.linear.x, twist.linear.y, twist.linear.z,
         twist.angular.x, twist.angular.y, twist.angular.z) = (float(a) for a in axes)
        self.twist_pub.publish(twist)
        joy = Joy()
        joy.header.stamp = self.node.get_clock().now().to_msg()
        joy.axes = [float(a) for a in axes]
        joy.buttons = [int(b) for b in buttons]
        self.joy_pub.publish(joy)
        glove = JointState()
        glove.header.stamp = joy.header.stamp
        glove.name = list(spec.FINGERS)
        glove.position = [spec.FINGER_REST] * len(spec.FINGERS)
        self.glove_pub.publish(glove)
        try:
            self.seen = json.loads(self.state_path.read_text())
            self.pressed_seen |= bool(self.seen["pressed"])
        except (OSError, ValueError):
            pass
        while True:
            rclpy.spin_once(self.node, timeout_sec=max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                return self.seen

    def arm(self) -> np.ndarray:
        while self.seen is None:
            self.step()
        return np.array([self.seen["q"][n] for n in spec.ARM])

    @staticmethod
    def axes_for(velocity: np.ndarray) -> np.ndarray:
        """Deflection that asks for `velocity` (m/s x3, rad/s x3)."""
        scale = np.array([MAX_LINEAR] * 3 + [MAX_ANGULAR] * 3)
        normalised = np.clip(velocity / scale, -1.0, 1.0)
        return np.where(normalised == 0.0, 0.0, np.sign(normalised) * (DEADBAND + np.abs(normalised) * (1 - DEADBAND)))

    def drive_to(self, goal, timeout: float = 8.0, tolerance: float = 0.006) -> bool:
        goal = np.asarray(goal, float)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            error = goal - self.arm()
            if np.all(np.abs(error[:3]) < tolerance) and np.all(np.abs(error[3:]) < 0.03):
                self.step()
                return True
            velocity = np.concatenate([np.clip(3.0 * error[:3], -0.2, 0.2), np.clip(2.0 * error[3:], -0.5, 0.5)])
            velocity[:3][np.abs(error[:3]) < tolerance] = 0.0
            velocity[3:][np.abs(error[3:]) < 0.03] = 0.0
            self.step(self.axes_for(velocity))
        return False

    def press_device_button(self, want, timeout: float = 6.0) -> bool:
        """Press the spacemouse's left button until the arbiter's source satisfies `want`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.control is not None and want(self.control):
                return True
            for _ in range(4):
                self.step(buttons=(1, 0))
            for _ in range(25):     # released; watch the markers for half a second
                self.step()
                if self.control is not None and want(self.control):
                    return True
        return False

    # ---- what the person does ----------------------------------------------------------------
    def arrange(self, stage: str, take: bool) -> str:
        if take and not self.press_device_button(lambda s: s == InterventionState.SOURCE_HUMAN):
            return "error: could not take control to arrange the scene"
        self.in_control = True
        try:
            return self._arrange(stage)
        finally:
            self.in_control = False

    def _arrange(self, stage: str) -> str:
        goal = np.array(spec.STAGES[stage])
        here = self.arm()
        if np.linalg.norm(here[:2] - goal[:2]) > 0.01 and here[2] < spec.SAFE_Z:
            self.drive_to(np.concatenate([here[:2], [spec.SAFE_Z + 0.02], np.zeros(3)]))
        if not self.drive_to(goal):
            return f"error: the hand did not reach stage {stage}: {self.arm().round(3).tolist()}"
        for _ in range(10):
            self.step()
        return f"arranged {stage}"

    def solve(self) -> None:
        here = self.arm()
        above = np.array(spec.STAGES["above"])
        if np.linalg.norm(here[:2] - above[:2]) > 0.01 and here[2] < spec.SAFE_Z:
            self.drive_to(np.concatenate([here[:2], [spec.SAFE_Z], np.zeros(3)]))
        self.drive_to(above)
        end = time.monotonic() + 5.0
        while not self.pressed_seen and time.monotonic() < end:   # down until it clicks
            error = above - self.arm()
            velocity = np.concatenate([np.clip(3.0 * error[:2], -0.2, 0.2), [-0.1], np.zeros(3)])
            self.step(self.axes_for(velocity))
        self.drive_to(np.concatenate([above[:2], [spec.SAFE_Z - 0.04], np.zeros(3)]), timeout=3.0)

    def demo(self) -> str:
        self.pressed_seen = False
        self.in_control = True
        self.solve()
        self.in_control = False
        return "done " + ("success" if self.pressed_seen else "failure")

    def watch(self, seconds: float, takeover: bool) -> str:
        self.pressed_seen = False
        # `seconds` of the policy acting (a hand holding while the policy server starts, slow
        # on a busy machine, does not count), within a minute.
        watched, last, end = 0.0, time.monotonic(), time.monotonic() + seconds + 60.0
        while watched < seconds and time.monotonic() < end and not self.pressed_seen:
            self.step()
            now = time.monotonic()
            if self.control == InterventionState.SOURCE_POLICY:
                watched += now - last
            last = now
        if self.pressed_seen or not takeover:
            return "done " + ("success" if self.pressed_seen else "failure")
        if not self.press_device_button(lambda s: s == InterventionState.SOURCE_HUMAN):
            return "error: the takeover press did not give the person control"
        self.in_control = True
        self.solve()
        self.in_control = False
        if not self.press_device_button(lambda s: s != InterventionState.SOURCE_HUMAN):
            return "error: the handback press did not give control back"
        return "done " + ("success" if self.pressed_seen else "failure") + " took-over"

    def run(self) -> None:
        print("person ready", flush=True)
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                self.step()
                continue
            if not command:
                continue
            if command[0] == "quit":
                return
            if command[0] == "arrange":
                answer = self.arrange(command[1], "take" in command[2:])
            elif command[0] == "demo":
                answer = self.demo()
            elif command[0] == "watch":
                answer = self.watch(float(command[1]), "takeover" in command[2:])
            else:
                answer = f"error: unknown command {command}"
            print(answer, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    person = Person(args.state_dir)
    try:
        person.run()
    finally:
        person.node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
