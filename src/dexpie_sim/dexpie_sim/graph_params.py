"""The parameter values the node graph needs for one twin task (pure: no rclpy).

The bringup writes the per-task parameter files from `graph_params(task).as_parameters()`,
so that the hand controller, the arbiter, the policy server and the recorder are configured
with exactly the joint order, limits and spacemouse map the twin uses (read from the task's
compiled MuJoCo model, never copied by hand).

Values are plain Python (str, int, float, lists of one element type): ROS 2 parameter types.
Matrices are flattened row-major (`twist_to_joint`: n_arm rows of 6).
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import mujoco
import numpy as np

from dexpie_common.hand import GLOVE, SPACEMOUSE, HandDescription, JointGroup
from dexpie_sim.registry import make_task
from dexpie_teleop.spacemouse import SpacemouseConfig

# Largest joint speeds the hand controller lets a command ask for (its rate limit).
# About 1.5-2x the fastest commands of the simulated operator (measured over 3 seeds of
# every task: arm slides <= 0.3 m/s, arm hinges <= 1.0 rad/s, fingers <= 7 rad/s, glove
# noise included), so that demonstrations and interventions pass unchanged while a policy's
# runaway step does not.
MAX_SLIDE_SPEED = 0.5      # m/s
MAX_HINGE_SPEED = 2.0      # rad/s, arm hinges
MAX_FINGER_SPEED = 10.0    # rad/s, wrist and finger joints (all hinges)
# The teleop integrator's per-joint speed cap (HandTask.make_teleop's default).
ARM_MAX_JOINT_SPEED = 1.0


@dataclass(frozen=True)
class GraphParams:
    """What the graph's nodes must agree on for one task; every sequence is in the order its
    name says (joint orders are `joint_names` = arm_joints + finger_joints)."""
    task: str
    control_rate_hz: float
    max_episode_steps: int
    stages: list[str]
    joint_names: list[str]
    arm_joints: list[str]
    finger_joints: list[str]
    object_names: list[str]
    lower_limits: list[float]            # per joint, m or rad
    upper_limits: list[float]
    max_velocity: list[float]            # per joint, the hand controller's rate limit
    finger_lower_limits: list[float]     # glove retargeting clip range (one channel per finger joint)
    finger_upper_limits: list[float]
    twist_to_joint: list[float]          # n_arm * 6, row-major: wrist twist [v; w] -> arm joint velocities
    arm_max_joint_speed: list[float]     # per arm joint, the spacemouse integrator's speed cap
    spacemouse_deadband: float
    spacemouse_max_linear_speed: float   # m/s at full deflection
    spacemouse_max_angular_speed: float  # rad/s at full deflection

    def as_parameters(self) -> dict:
        """name -> ROS 2 parameter value."""
        return asdict(self)

    def twist_to_joint_matrix(self) -> np.ndarray:
        return np.asarray(self.twist_to_joint, float).reshape(len(self.arm_joints), 6)


def max_velocities(slide: np.ndarray, n_arm: int) -> np.ndarray:
    """Per-joint rate limits: slides in m/s, arm hinges and hand joints in rad/s."""
    speeds = np.full(len(slide), MAX_FINGER_SPEED)
    speeds[:n_arm] = np.where(slide[:n_arm], MAX_SLIDE_SPEED, MAX_HINGE_SPEED)
    return speeds


def graph_params(task_name: str) -> GraphParams:
    """The graph's parameter values for `task_name` (builds the task's model once, ~0.1 s)."""
    task = make_task(task_name)
    try:
        spec, controller = task.spec, task.controller
        n_arm = len(spec.arm_joints)
        lower, upper = controller.lower, controller.upper
        if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
            raise ValueError(f"task {task_name!r} has joints without finite limits")
        slide = np.array([task.model.jnt_type[task.model.joint(j).id] == mujoco.mjtJoint.mjJNT_SLIDE
                          for j in spec.joint_names])
        twist = task.twist_to_joint()
        mouse = SpacemouseConfig()
        return GraphParams(
            task=spec.name, control_rate_hz=float(1.0 / spec.control_dt),
            max_episode_steps=int(spec.max_episode_steps), stages=list(spec.stages),
            joint_names=list(spec.joint_names), arm_joints=list(spec.arm_joints),
            finger_joints=list(spec.finger_joints), object_names=list(spec.object_names),
            lower_limits=_floats(lower), upper_limits=_floats(upper),
            max_velocity=_floats(max_velocities(slide, n_arm)),
            finger_lower_limits=_floats(lower[n_arm:]), finger_upper_limits=_floats(upper[n_arm:]),
            twist_to_joint=_floats(np.asarray(twist).reshape(-1)),
            arm_max_joint_speed=[ARM_MAX_JOINT_SPEED] * n_arm,
            spacemouse_deadband=mouse.deadband, spacemouse_max_linear_speed=mouse.max_linear_speed,
            spacemouse_max_angular_speed=mouse.max_angular_speed)
    finally:
        task.close()


# The twin's action representations: the arm relative to the observed pose, the fingers
# absolute (the paper's robot; finger targets are bounded and state-independent).
ARM_REPRESENTATION = "relative_joint"
FINGER_REPRESENTATION = "absolute_joint"


@functools.lru_cache(maxsize=None)
def hand_description(task_name: str) -> HandDescription:
    """The twin task's hand description, as a robot's parameters file would give it: the
    spacemouse drives the arm, the glove the fingers; limits and rate limits are the hand
    controller's (`graph_params`), the step limit is the task's."""
    graph = graph_params(task_name)
    # Limits rounded as the generated parameter files write them (12 significant digits), so
    # bags recorded in-process and through the graph carry the same description.
    def rounded(values):
        return tuple(float(f"{v:.12g}") for v in values)
    return HandDescription(
        name=f"adroit_{task_name}", joint_names=tuple(graph.joint_names),
        groups=(JointGroup("arm", tuple(graph.arm_joints), SPACEMOUSE, ARM_REPRESENTATION),
                JointGroup("fingers", tuple(graph.finger_joints), GLOVE, FINGER_REPRESENTATION)),
        lower_limits=rounded(graph.lower_limits), upper_limits=rounded(graph.upper_limits),
        max_velocity=rounded(graph.max_velocity), control_rate_hz=graph.control_rate_hz,
        max_episode_steps=graph.max_episode_steps, object_names=tuple(graph.object_names))


def _floats(values) -> list[float]:
    return [float(v) for v in np.asarray(values, float).ravel()]
