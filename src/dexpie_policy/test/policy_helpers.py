"""Synthetic episodes for the policy tests: a 6-DoF Cartesian-Euler arm and two fingers move
smoothly towards a goal given as object state, so the next commands are a deterministic
function of the observation (a model can fit them)."""
import numpy as np

from dexpie_policy.actions import RELATIVE_EE_POSE, RELATIVE_JOINT, twin_action_spec
from dexpie_policy.chunk_dataset import EpisodeArrays

ARM = ("ARTx", "ARTy", "ARTz", "ARRx", "ARRy", "ARRz")
FINGERS = ("FFJ1", "THJ1")


def make_spec(arm_representation=RELATIVE_EE_POSE, finger_representation=RELATIVE_JOINT):
    return twin_action_spec(ARM, FINGERS, arm_representation, finger_representation)


def make_episodes(count=4, steps=30, seed=0, cameras=(), image_size=(16, 16), optimality=True):
    rng = np.random.default_rng(seed)
    episodes = []
    for number in range(count):
        goal = rng.uniform(-0.5, 0.5, size=3)
        goal_q = np.concatenate([goal, 0.5 * goal, [0.8, 0.4]])
        q = np.concatenate([rng.uniform(-0.3, 0.3, size=6), [0.0, 0.0]])
        positions, commands = [], []
        for _ in range(steps):
            command = q + 0.15 * (goal_q - q)
            positions.append(q.copy())
            commands.append(command)
            q = q + 0.8 * (command - q)  # the robot lags its targets
        positions = np.array(positions)
        images = {}
        for name in cameras:
            # The image encodes the goal too (brightness of three stripes).
            frames = np.zeros((steps, *image_size, 3), dtype=np.uint8)
            for axis in range(3):
                frames[:, :, axis * 5:(axis + 1) * 5, axis] = int(127 + 200 * goal[axis])
            images[name] = frames
        episodes.append(EpisodeArrays(
            joint_positions=positions, command=np.array(commands),
            object_state=np.tile(goal, (steps, 1)), images=images,
            optimality=(np.linspace(0.0, 1.0, steps) if optimality and number % 2 == 0
                        else None)))
    return episodes
