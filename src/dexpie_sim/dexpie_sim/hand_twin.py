"""The twin as hardware: one task stepped tick by tick with the latest joint command (pure:
no rclpy). The `sim_hand` node wires it to topics, a timer and the reset service.

- `command(values)` takes a full joint-target vector (`TaskSpec.joint_names` order); a
  wrong length or a non-finite value is refused with a reason, the previous target stays.
- `tick()` steps one control period holding the latest accepted target (or, before any
  command, the target the scene was reset with) and returns the observation. After success
  or the step limit the hand keeps being simulated: the episode runner ends episodes.
- A physics divergence (MuJoCo's bad-acceleration reset, or an exception out of the step)
  never propagates: the episode reports `timed_out` and `divergence` says what happened
  until the next reset.
- `reset(task, stage, seed)` restores "init" or a named stage (reached once by the stage
  library's operator from the seed, then restored exactly).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import mujoco
import numpy as np

from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.stages import StageLibrary, StageUnreachableError
from dexpie_sim.tasks.base import INIT_STAGE, Observation

# MuJoCo's instability warnings: on each it resets the state silently (a teleport).
_INSTABILITY = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                mujoco.mjtWarning.mjWARN_BADQACC)


@dataclass(frozen=True)
class ResetResult:
    success: bool
    message: str
    joint_positions: np.ndarray


class HandTwin:
    """See the module docstring. cameras: names of the model's cameras to render each tick."""

    def __init__(self, task_name: str, seed: int = 0, start_stage: str = INIT_STAGE,
                 cameras: tuple[str, ...] = (), image_size: int = 96):
        self.task = make_task(task_name, cameras=tuple(cameras), image_size=image_size)
        self.cameras = tuple(cameras)
        known = [self.task.model.camera(i).name for i in range(self.task.model.ncam)]
        unknown = [c for c in cameras if c not in known]
        if unknown:
            self.task.close()
            raise ValueError(f"task {task_name!r} has no camera(s) {unknown}; cameras: {known}")
        # Stages are reached by an operator of the twin's own (the seed fixes the result).
        self.library = StageLibrary(self.task, make_operator(task_name, self.task, seed=0))
        self.start_stage = INIT_STAGE
        self.divergence = ""
        self._command: np.ndarray | None = None
        result = self.reset(task_name, start_stage, seed)
        if not result.success:
            self.task.close()
            raise ValueError(result.message)

    @property
    def spec(self):
        return self.task.spec

    # ---- inputs --------------------------------------------------------------------------
    def command(self, values) -> str | None:
        """Accept a joint-target vector; returns None, or why it was refused."""
        target = np.asarray(values, dtype=float).ravel()
        n = len(self.spec.joint_names)
        if target.shape != (n,):
            return f"command has {target.size} values, expected {n} (joint order {list(self.spec.joint_names[:3])}...)"
        bad = np.flatnonzero(~np.isfinite(target))
        if bad.size:
            return f"command is not finite at joint(s) {[self.spec.joint_names[i] for i in bad[:5]]}"
        self._command = target
        return None

    # ---- the control tick ------------------------------------------------------------------
    def tick(self) -> Observation:
        task = self.task
        target = task.target if self._command is None else self._command
        was_diverged = task.diverged
        warnings_before = self._instability_count()
        try:
            with self._without_images():
                task.step(target)
            # Positions, contacts and sites of the state after the step (mj_step leaves those
            # of the state before its last substep); the physics is unchanged by this.
            mujoco.mj_fwdPosition(task.model, task.data)
        except (mujoco.FatalError, ValueError, FloatingPointError) as error:
            task.diverged = True
            task.tick += 1
            self.divergence = self.divergence or f"physics step failed at tick {task.tick}: {error}"
        if self._instability_count() > warnings_before:
            task.diverged = True  # the task itself only watches bad accelerations
        if task.diverged and not was_diverged and not self.divergence:
            self.divergence = (f"physics diverged at tick {task.tick} (MuJoCo reset the state after a "
                               f"NaN, Inf or huge position, velocity or acceleration); the episode is "
                               f"over (timed out) until the next reset")
        return task.observe()

    def _instability_count(self) -> int:
        return sum(int(self.task.data.warning[w].number) for w in _INSTABILITY)

    def observe(self) -> Observation:
        """The current observation, with the configured camera images."""
        return self.task.observe()

    @contextmanager
    def _without_images(self):
        """The task renders on every step and reset; the twin renders once per tick."""
        self.task.cameras = ()
        try:
            yield
        finally:
            self.task.cameras = self.cameras

    def status(self) -> dict:
        """The task status the node publishes as JSON on /sim/task_status."""
        task = self.task
        return {"task": self.spec.name, "stage": task.stage_reached(), "seed": int(task.seed),
                "tick": int(task.tick), "success": bool(task.is_success()), "timed_out": bool(task.timed_out),
                "start_stage": self.start_stage, "diverged": bool(task.diverged)}

    # ---- the reset service -------------------------------------------------------------------
    def reset(self, task_name: str, stage: str, seed: int) -> ResetResult:
        """Restore `stage` of `seed`; the pending command is dropped (the next tick holds the
        restored target), the episode clock restarts at 0."""
        here = self.task.controller.joint_positions(self.task.data)
        spec = self.spec
        if task_name != spec.name:
            return ResetResult(False, f"this twin runs task {spec.name!r}, not {task_name!r}", here)
        if stage not in spec.stages:
            return ResetResult(False, f"task {spec.name!r} has no stage {stage!r}; stages: {list(spec.stages)}", here)
        if not 0 <= seed < 2 ** 63:
            return ResetResult(False, f"seed must be >= 0, got {seed}", here)
        try:
            with self._without_images():
                self.library.reset(int(seed), stage)
        except StageUnreachableError as error:
            with self._without_images():
                self.task.reset(int(seed))  # a defined scene rather than wherever the attempt ended
            self._after_reset(INIT_STAGE)
            return ResetResult(False, f"{error}; the twin was reset to 'init' of seed {seed}",
                               self.task.controller.joint_positions(self.task.data))
        self._after_reset(stage)
        return ResetResult(True, f"{spec.name}: stage {stage!r} of seed {seed}",
                           self.task.controller.joint_positions(self.task.data))

    def _after_reset(self, stage: str) -> None:
        self.start_stage = stage
        self._command = None
        self.divergence = ""
        mujoco.mj_fwdPosition(self.task.model, self.task.data)

    def close(self) -> None:
        self.task.close()
