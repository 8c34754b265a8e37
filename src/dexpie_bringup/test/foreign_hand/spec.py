"""What the foreign hand's owner knows of it: joints, limits, rates, the task's layout and its
success check (pure: no MuJoCo, no ROS). The robot-side code never imports this; the test
uses it to fill in its copy of config/robot_template.yaml, as a user would from the data sheet.

The hand: a 6-joint arm (three slides x y z [m], then roll pitch yaw [rad]) carrying a
four-finger hand of 16 hinges (index, middle, ring, thumb; 4 each, flexion [rad]).
The task, "press_button": a spring-loaded button on the table; pressed = its cap went down
by at least PRESSED_DEPTH. Stages: "init" (the hand raised at home) and "above" (the hand
above the button, partway through the task).
"""
from __future__ import annotations

NAME = "four_finger_press_hand"
TASK = "press_button"
ARM = ("arm_x", "arm_y", "arm_z", "arm_roll", "arm_pitch", "arm_yaw")
FINGERS = tuple(f"{finger}_{k}" for finger in ("index", "middle", "ring", "thumb") for k in range(4))
# The order of the forward_command_controller's `joints` (its commands) ...
COMMAND_JOINTS = ARM + FINGERS
# ... and the joint_state_broadcaster's order (the model's order), which differs on purpose.
BROADCAST_JOINTS = FINGERS + ARM

ARM_LOWER = (-0.2, -0.3, 0.0, -0.5, -0.5, -1.0)
ARM_UPPER = (0.4, 0.3, 0.4, 0.5, 0.5, 1.0)
FINGER_LOWER, FINGER_UPPER = -0.3, 1.2
LOWER = ARM_LOWER + (FINGER_LOWER,) * len(FINGERS)
UPPER = ARM_UPPER + (FINGER_UPPER,) * len(FINGERS)
MAX_VELOCITY = (0.5, 0.5, 0.5, 2.0, 2.0, 2.0) + (3.0,) * len(FINGERS)

# Its ros2_control loop (and joint_state_broadcaster) runs at this rate; the hand description's
# control_rate_hz is the same, since DexPIE's nodes tick once per /joint_states message.
RATE_HZ = 25.0
MAX_EPISODE_STEPS = 200

FINGER_REST = 0.2
BUTTON_XY = (0.2, 0.0)
PRESSED_DEPTH = 0.012          # [m] the cap went down at least this far: success
SAFE_Z = 0.12                  # arm_z above which the hand clears the button
STAGES = {
    "init": (0.0, 0.0, 0.2, 0.0, 0.0, 0.0),
    "above": (BUTTON_XY[0], BUTTON_XY[1], SAFE_Z, 0.0, 0.0, 0.0),
}
HOME = STAGES["init"] + (FINGER_REST,) * len(FINGERS)      # COMMAND_JOINTS order


def pressed(button_depth: float) -> bool:
    """The task's success check: the button cap is down by PRESSED_DEPTH or more."""
    return button_depth >= PRESSED_DEPTH
