"""The twin's task interface: one MuJoCo scene, joint-target control, stages and success.

A task owns its scene, its randomisation, its success check and the conditions of its named
intermediate stages. It is driven with joint position targets at the control rate (30 Hz);
the low-level controller turns targets into actuator commands every physics substep.

Snapshots restore a scene exactly: the integration state (`mj_getState`) plus the model fields
that the task randomises (`randomised_fields`), plus the controller target and tick counter.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field

import mujoco
import numpy as np

from dexpie_sim.controller import JointTargetController, PDGains
from dexpie_teleop.glove import GloveCalibration, GloveRetargeter
from dexpie_teleop.spacemouse import SpacemouseConfig, SpacemouseFilter, TwistIntegrator
from dexpie_teleop.teleop import TeleopPipeline

INIT_STAGE = "init"
_STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION


@dataclass(frozen=True)
class TaskSpec:
    """Static description of a task.

    `stages` lists the named stages in task order, the first always being "init"; an episode
    may start from any of them. `arm_joints` are moved by the spacemouse (wrist), and
    `finger_joints` by the glove.
    """
    name: str
    stages: tuple[str, ...]
    max_episode_steps: int
    arm_joints: tuple[str, ...]
    finger_joints: tuple[str, ...]
    object_names: tuple[str, ...]
    control_dt: float = 1.0 / 30.0
    description: str = ""

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.arm_joints + self.finger_joints


@dataclass
class Observation:
    """What a policy (and the episode recorder) sees on one control tick.

    joint_positions, joint_velocities: (J,) in `TaskSpec.joint_names` order.
    object_state: (K,) in `TaskSpec.object_names` order (privileged, simulation only).
    images: camera name -> (H, W, 3) uint8, only for cameras enabled on the task.
    """
    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    object_state: np.ndarray
    images: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Snapshot:
    """Everything needed to restore a scene exactly."""
    task: str
    physics_state: np.ndarray                   # mj_getState(mjSTATE_INTEGRATION)
    randomised: dict[str, np.ndarray]           # "body_pos" etc. -> copies of those model arrays
    target: np.ndarray                          # controller target in force
    tick: int
    seed: int
    stage: str                                  # stage name this snapshot was taken at


class HandTask(abc.ABC):
    """Base class of the twin's tasks. Subclasses build the model and define the task."""

    spec: TaskSpec
    #: Model arrays the task randomises at reset; saved in snapshots.
    randomised_fields: tuple[str, ...] = ("body_pos", "site_pos")
    n_substeps: int = 20          # physics steps per control tick
    physics_dt: float = 1.0 / 600.0

    def __init__(self, cameras: tuple[str, ...] = (), image_size: int = 96,
                 gains: PDGains = PDGains()):
        self.model = self._build_model()
        self.model.opt.timestep = self.physics_dt
        self.data = mujoco.MjData(self.model)
        if abs(self.n_substeps * self.physics_dt - self.spec.control_dt) > 1e-9:
            raise ValueError("n_substeps * physics_dt must equal the control period")
        self.controller = JointTargetController(self.model, list(self.spec.joint_names),
                                                servo_joints=list(self._servo_joints()), gains=gains)
        self._nominal = {f: getattr(self.model, f).copy() for f in self.randomised_fields}
        self.cameras = tuple(cameras)
        self.image_size = image_size
        self._renderer = None
        self.target = self.controller.joint_positions(self.data)
        self.tick = 0
        self.diverged = False
        self.seed = 0
        self.rng = np.random.default_rng(0)

    # ---- to be defined by each task -----------------------------------------------------
    @abc.abstractmethod
    def _build_model(self) -> mujoco.MjModel:
        """Compile the task's scene."""

    @abc.abstractmethod
    def twist_to_joint(self) -> np.ndarray:
        """(n_arm, 6) map from a wrist twist [v; w] (world frame) to arm joint velocities,
        used by the spacemouse integrator."""

    def make_teleop(self, spacemouse: SpacemouseConfig = SpacemouseConfig(),
                    max_arm_joint_speed: float | np.ndarray = 1.0):
        """The glove + spacemouse pipeline for this task's hand (one glove channel per finger joint)."""
        n_arm = len(self.spec.arm_joints)
        lo, hi = self.controller.lower, self.controller.upper
        retargeter = GloveRetargeter(GloveCalibration.one_to_one(self.spec.finger_joints, lo[n_arm:], hi[n_arm:]))
        integrator = TwistIntegrator(self.twist_to_joint(), lo[:n_arm], hi[:n_arm], max_arm_joint_speed)
        return TeleopPipeline(retargeter, SpacemouseFilter(spacemouse), integrator, self.spec.control_dt)

    def _servo_joints(self) -> tuple[str, ...]:
        """Joints whose actuators need the gravity-compensated PD command (Adroit arm)."""
        return self.spec.arm_joints

    @abc.abstractmethod
    def _randomise(self, rng: np.random.Generator) -> None:
        """Apply the seeded randomisation to model fields and `self.data` (after mj_resetData)."""

    @abc.abstractmethod
    def object_state(self) -> np.ndarray:
        """(K,) privileged object features in `spec.object_names` order."""

    @abc.abstractmethod
    def is_success(self) -> bool:
        """Task solved in the current state."""

    @abc.abstractmethod
    def stage_reached(self) -> str:
        """The furthest named stage whose condition holds in the current state."""

    # ---- common machinery ---------------------------------------------------------------
    def reset(self, seed: int) -> Observation:
        """Randomised initial state ("init" stage) from a seed."""
        for name, nominal in self._nominal.items():
            getattr(self.model, name)[:] = nominal
        mujoco.mj_resetData(self.model, self.data)
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self._randomise(self.rng)
        mujoco.mj_forward(self.model, self.data)
        self.target = self.controller.clip(self.controller.joint_positions(self.data))
        self.tick = 0
        self.diverged = False
        return self.observe()

    def step(self, target: np.ndarray) -> Observation:
        """Hold `target` (joint positions, clipped to limits) for one control period."""
        target = np.asarray(target, dtype=float)
        if target.shape != (len(self.spec.joint_names),):
            raise ValueError(f"target has shape {target.shape}, expected ({len(self.spec.joint_names)},)")
        if not np.all(np.isfinite(target)):
            raise ValueError("target contains NaN or Inf")
        self.target = self.controller.clip(target)
        bad_before = self.data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number
        for _ in range(self.n_substeps):
            self.controller.apply(self.data, self.target)
            mujoco.mj_step(self.model, self.data)
        # MuJoCo resets the state silently when the physics blows up; an episode that saw
        # that is over (and a failure), never continued from a teleported state.
        if self.data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number > bad_before:
            self.diverged = True
        self.tick += 1
        return self.observe()

    def observe(self) -> Observation:
        images = {name: self.render(name) for name in self.cameras}
        return Observation(self.controller.joint_positions(self.data),
                           self.controller.joint_velocities(self.data),
                           self.object_state(), images)

    def render(self, camera: str) -> np.ndarray:
        """(H, W, 3) uint8 image from a named camera (EGL offscreen; shadows and reflections off)."""
        if self._renderer is None:
            self.model.vis.quality.shadowsize = 0
            self._renderer = mujoco.Renderer(self.model, self.image_size, self.image_size)
            self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        self._renderer.update_scene(self.data, camera=camera)
        return self._renderer.render().copy()

    @property
    def timed_out(self) -> bool:
        """The episode is over without success: step limit reached or the physics diverged."""
        return self.tick >= self.spec.max_episode_steps or self.diverged

    def snapshot(self, stage: str | None = None) -> Snapshot:
        size = mujoco.mj_stateSize(self.model, _STATE_SPEC)
        state = np.empty(size)
        mujoco.mj_getState(self.model, self.data, state, _STATE_SPEC)
        return Snapshot(self.spec.name, state,
                        {f: getattr(self.model, f).copy() for f in self.randomised_fields},
                        self.target.copy(), self.tick, self.seed, stage or self.stage_reached())

    def restore(self, snapshot: Snapshot, reset_tick: bool = True) -> Observation:
        """Restore a snapshot exactly. With `reset_tick` the episode clock restarts at 0."""
        if snapshot.task != self.spec.name:
            raise ValueError(f"snapshot of task {snapshot.task!r} cannot be restored into {self.spec.name!r}")
        for name, values in snapshot.randomised.items():
            getattr(self.model, name)[:] = values
        mujoco.mj_resetData(self.model, self.data)
        mujoco.mj_setState(self.model, self.data, snapshot.physics_state, _STATE_SPEC)
        mujoco.mj_forward(self.model, self.data)
        self.target = snapshot.target.copy()
        self.tick = 0 if reset_tick else snapshot.tick
        self.diverged = False
        self.seed = snapshot.seed
        self.rng = np.random.default_rng(self.seed)
        return self.observe()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
