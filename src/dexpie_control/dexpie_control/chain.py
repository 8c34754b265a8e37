"""One control tick of the DexPIE graph, composed once (pure: no rclpy, no message packages).

On the robot (and in the sim graph) every control tick passes through three cores:

    policy_server (ChunkScheduler) --/policy/command--> intervention_arbiter (InterventionArbiter)
      --/hand/command--> hand_controller (SafetyFilter) --/hand_position_controller/commands--> hand

`ControlChain` runs the same three cores in the same order in one process, on the caller's
clock (the twin's loops use the simulated clock now = tick * control_dt), so that evaluation,
DAgger rollouts and demonstrations execute exactly what the robot executes: the policy's
proposal (none for demonstrations), the arbiter's choice of source with its clutch, blend and
holds, then the hand controller's joint limits, rate limit, NaN rejection and watchdog.

The hand controller is driven as `hand_controller_node` drives it: the filter starts holding
the measured position (`start`); each command the arbiter sends goes to
`SafetyFilter.command(names, positions, now)` and is followed at once by
`SafetyFilter.tick(now)`, whose target is what the hand executes. A command the filter refuses
changes nothing but is counted (the tick still runs: the hand keeps tracking the last accepted
command, or holds). The node's timer tick, which runs when no command came for 1.5 periods
(watchdog, hold), is `tick_without_command(now)`; in-process the arbiter answers every tick, so
the loops never need it.

Which command is which (`ChainTick`): `proposal.target` is /policy/command, `command` (the
arbiter's output) is /hand/command, the command the live `episode_recorder` records by default
and the one the in-process loops record, and `target` (the safety filter's output) is
/hand_position_controller/commands, the target the hand executes.

Vectors (measured positions, proposals, commands, targets) are in the order of
`HandControllerSettings.limits.names`, which must also be the arbiter's core order (arm joints,
then finger joints; true of the twin's tasks).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dexpie_control.hand_controller_parameters import joint_limits
from dexpie_control.safety import CommandRejected, HoldReason, JointLimits, SafetyFilter
from dexpie_control.safety import TickOutput as SafetyOutput
from dexpie_teleop.arbiter import SOURCE_SAFETY_HOLD, ArbiterOutput, InterventionArbiter

if TYPE_CHECKING:  # the scheduler is only called, never built here
    from dexpie_policy.scheduler import ChunkScheduler
    from dexpie_policy.scheduler import TickOutput as SchedulerOutput
    from dexpie_teleop.teleop import DeviceReading


@dataclass(frozen=True)
class HandControllerSettings:
    """What the hand controller's safety core is built from (as `hand_controller_node` builds it)."""
    limits: JointLimits
    control_dt: float          # 1 / rate_hz: the rate limit allows max_velocity * control_dt per tick
    watchdog_timeout: float    # seconds without an accepted command before the hand holds

    @classmethod
    def from_parameters(cls, values) -> "HandControllerSettings":
        """From validated `hand_controller` parameter values (`hand_controller_parameters.SCHEMA`)."""
        return cls(joint_limits(values), 1.0 / values.rate_hz, float(values.watchdog_timeout))

    def safety_filter(self) -> SafetyFilter:
        return SafetyFilter(self.limits, self.control_dt, self.watchdog_timeout)


@dataclass
class SafetyCounts:
    """How often, in the current episode, the safety layers changed what was asked for."""
    ticks: int = 0
    clipped_ticks: int = 0           # hand controller clipped the command to limits or rate-limited it
    rate_limited_ticks: int = 0      # of those, ticks where the rate limit (not only the position limits) acted
    controller_hold_ticks: int = 0   # hand controller held (no command yet, stale command, e-stop)
    rejected_commands: int = 0       # commands the hand controller refused (non-finite, wrong joints)
    arbiter_hold_ticks: int = 0      # arbiter in safety hold (policy command missing or invalid, stale devices, e-stop)
    hold_ticks: int = 0              # ticks held by either: the arbiter's safety hold or the hand controller


@dataclass(frozen=True)
class ChainTick:
    """Everything one control tick produced, stage by stage."""
    now: float
    proposal: "SchedulerOutput | None"  # the policy's tick (/policy/command, arrived chunk); None without a policy
    arbiter: ArbiterOutput | None       # the arbiter's decision (/hand/command); None on a tick without a command
    safety: SafetyOutput                # the hand controller's tick: target, hold reason, clipped
    rejected: str | None = None         # why the hand controller refused this tick's command
    rate_limited: bool = False          # the target differs from this tick's command clipped to the limits

    @property
    def command(self) -> np.ndarray | None:
        """/hand/command: what the arbiter sent (recorded as the episode's command)."""
        return None if self.arbiter is None else self.arbiter.command

    @property
    def target(self) -> np.ndarray:
        """/hand_position_controller/commands: what the hand executes."""
        return self.safety.target

    @property
    def limited(self) -> bool:
        """The hand does not execute the command as sent: clipped, rate-limited, held or refused."""
        return self.safety.clipped or self.safety.hold is not HoldReason.NONE or self.rejected is not None


@dataclass
class ControlChain:
    """scheduler -> arbiter -> hand controller, one call per control tick (see the module docstring).

    scheduler: the policy's chunk scheduler, or None when no policy runs (demonstrations: the
        arbiter gets no policy command, and should be in human-only mode).
    arbiter: the intervention arbiter (it owns the teleop pipeline's clutch).
    hand_controller: the safety core's settings; a fresh `SafetyFilter` is made per episode.
    """
    arbiter: InterventionArbiter
    hand_controller: HandControllerSettings
    scheduler: "ChunkScheduler | None" = None
    safety: SafetyFilter | None = field(default=None, init=False)
    counts: SafetyCounts = field(default_factory=SafetyCounts, init=False)

    def __post_init__(self):
        # The arbiter's vectors are in the teleop core's order: arm joints, then the glove's
        # finger joints. The hand controller commands by name in `limits.names` order.
        names = self.hand_controller.limits.names
        teleop = self.arbiter.teleop
        fingers = tuple(teleop.retargeter.calibration.robot_joints)
        if len(names) != teleop.n_arm + len(fingers) or names[teleop.n_arm:] != fingers:
            raise ValueError(f"the arbiter's joints ({teleop.n_arm} arm joints, then fingers {list(fingers)}) "
                             f"are not the hand controller's joint order {list(names)}")
        if abs(teleop.dt - self.hand_controller.control_dt) > 1e-9:
            raise ValueError(f"the teleop pipeline's dt {teleop.dt} is not the control period "
                             f"{self.hand_controller.control_dt}")

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.hand_controller.limits.names

    @property
    def control_dt(self) -> float:
        return self.hand_controller.control_dt

    def start_episode(self, measured, now: float = 0.0) -> None:
        """A new episode with the hand at `measured`: the scheduler forgets its queue, the arbiter
        starts its episode, and the hand controller starts afresh holding the measured position
        with no command yet (as a controller started on a hand at rest; the previous episode's
        safe target and clock mean nothing after the twin was reset)."""
        measured = np.asarray(measured, float)
        if self.scheduler is not None:
            self.scheduler.reset()
        self.arbiter.start_episode(measured, now=now)
        self.safety = self.hand_controller.safety_filter()
        self.safety.start(measured)
        self.counts = SafetyCounts()

    def step(self, now: float, measured, observation: Any = None,
             reading: "DeviceReading | None" = None) -> ChainTick:
        """One control tick at time `now` [s].

        measured: (J,) measured joint positions. observation: what the scheduler's predictor
        sees (an `Observation`); required when a scheduler runs, ignored otherwise. reading:
        this tick's glove + spacemouse reading, or None when no device data exists.
        Inputs are fresh (age 0): the in-process loops produce them on the tick they are used.
        """
        safety = self._started()
        proposal = None
        if self.scheduler is not None:
            if observation is None:
                raise ValueError("ControlChain.step(): a scheduler runs, so an observation is required")
            proposal = self.scheduler.tick(observation)
        decision = self.arbiter.step(now, measured, None if proposal is None else proposal.target, reading)
        if decision.resume_policy and self.scheduler is not None:
            self.scheduler.reset()  # the policy resumes from the current state, not a stale queue
        rejected = None
        try:
            safety.command(self.joint_names, decision.command, now)
        except CommandRejected as error:
            rejected = str(error)
        out = safety.tick(now)
        limits = self.hand_controller.limits
        rate_limited = (rejected is None and out.hold is HoldReason.NONE
                        and bool(np.any(out.target != np.clip(decision.command, limits.lower, limits.upper))))
        tick = ChainTick(now, proposal, decision, out, rejected, rate_limited)
        self._count(tick)
        return tick

    def tick_without_command(self, now: float) -> ChainTick:
        """The hand controller's timer tick: nothing reached it this period (its watchdog runs)."""
        tick = ChainTick(now, None, None, self._started().tick(now))
        self._count(tick)
        return tick

    def _started(self) -> SafetyFilter:
        if self.safety is None:
            raise RuntimeError("ControlChain: call start_episode(measured) first")
        return self.safety

    def _count(self, tick: ChainTick) -> None:
        c = self.counts
        c.ticks += 1
        c.clipped_ticks += tick.safety.clipped
        c.rate_limited_ticks += tick.rate_limited
        c.rejected_commands += tick.rejected is not None
        arbiter_hold = tick.arbiter is not None and tick.arbiter.source == SOURCE_SAFETY_HOLD
        controller_hold = tick.safety.hold is not HoldReason.NONE
        c.arbiter_hold_ticks += arbiter_hold
        c.controller_hold_ticks += controller_hold
        c.hold_ticks += arbiter_hold or controller_hold
