"""The intervention arbiter: who commands the hand on each control tick (pure core, no ROS).

Every tick `InterventionArbiter.step()` gets the policy's command (or None when there is
none), the human devices' reading with the age of each device's data, the measured joint
positions, an e-stop flag and the time, and decides the command to send:

    POLICY --takeover (button edge | device motion)--> HUMAN --handback (button edge | idle)--> POLICY
      any --stale input | e-stop--> SAFETY_HOLD --button edge--> HUMAN
      SAFETY_HOLD (stale policy) --fresh policy command--> POLICY

Rules, in priority order on a tick (so that simultaneous events resolve deterministically):
  1. e-stop: latches the hold until `reset_estop()`; nothing else is looked at.
  2. stale input: the source in control went quiet (policy command None or older than
     `policy_timeout`; glove or spacemouse older than `device_timeout`) -> hold.
  3. a button press edge (rising edge of either button; both rising on one tick count as one
     press; edges within `button_debounce_time` of the last accepted one are bounce and
     ignored): POLICY -> HUMAN, HUMAN -> POLICY, SAFETY_HOLD -> HUMAN (not while the e-stop
     is latched, nor with stale devices).
  4. device motion (POLICY only): spacemouse deflected beyond `takeover_deflection`, or the
     glove's retargeted fingers moved more than `glove_takeover_deviation` away from both
     where the glove rested when the policy got control and the policy's finger command, on
     `motion_sustain_ticks` consecutive ticks -> HUMAN. (A glove left where the human's hand
     was at handback does not take control straight back.)
  5. human idle (HUMAN only) for `idle_handback_time` -> POLICY.

No jumps: on an edge tick the hand keeps the last sent command. At takeover the clutch
engages (`TeleopPipeline.engage(measured)`: the arm's integrated target starts at the
measured pose), and on the following ticks the output blends linearly from the last sent
command to the new source's command over `blend_time`, while every per-tick change during
the blend is limited to `max_transition_step` (rad, per joint); the blend ends once the
output has caught up. A switch to the policy sets `resume_policy` so that the caller resets
its chunk scheduler (the policy resumes from the current state, not from a stale queue).

Human-only mode (`human_only=True`, demonstration collection: no policy runs): every episode
starts under human control. Its first tick with fresh devices is a takeover with reason
EPISODE_BOUNDARY (intervention 1, the whole demonstration), blended from the measured pose
like any takeover; until the devices are fresh the hand holds (STALE_INPUT). Control is
never handed back: buttons and idleness are ignored while the human commands. Stale devices
and the e-stop still hold the hand, and a button press gives control back to the human.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from dexpie_teleop.teleop import DeviceReading, TeleopPipeline

# Mirrors of dexpie_msgs/msg/InterventionState.msg (checked against the .msg by the tests;
# dexpie_teleop's core does not import message packages or dexpie_learning).
SOURCE_POLICY = 0
SOURCE_HUMAN = 1
SOURCE_SAFETY_HOLD = 2

EDGE_NONE = 0
EDGE_TAKEOVER = 1
EDGE_HANDBACK = 2
EDGE_HOLD = 3

REASON_NONE = 0
REASON_BUTTON = 1
REASON_DEVICE_MOTION = 2
REASON_HUMAN_IDLE = 3
REASON_STALE_INPUT = 4
REASON_ESTOP = 5
REASON_EPISODE_BOUNDARY = 6

SOURCE_NAMES = {SOURCE_POLICY: "policy", SOURCE_HUMAN: "human", SOURCE_SAFETY_HOLD: "safety_hold"}
REASON_NAMES = {REASON_NONE: "none", REASON_BUTTON: "button", REASON_DEVICE_MOTION: "device_motion",
                REASON_HUMAN_IDLE: "human_idle", REASON_STALE_INPUT: "stale_input",
                REASON_ESTOP: "estop", REASON_EPISODE_BOUNDARY: "episode_boundary"}


@dataclass(frozen=True)
class ArbiterConfig:
    """Thresholds of the arbiter. Times in seconds, angles in rad, deflections in [0, 1).

    `idle_handback_time` may be math.inf (never hand back on idleness), and so may
    `glove_takeover_deviation` (no glove-motion takeover).
    """
    takeover_deflection: float = 0.15        # spacemouse axis deflection that means "steering"
    glove_takeover_deviation: float = 0.35   # glove fingers vs policy finger command (max abs)
    motion_sustain_ticks: int = 3            # consecutive ticks of motion before a takeover
    glove_motion_threshold: float = 0.12     # glove change (max abs) that resets the idle timer
    idle_handback_time: float = 3.0
    device_timeout: float = 0.1              # glove / spacemouse data older than this is stale
    policy_timeout: float = 0.2              # policy command older than this is stale
    button_debounce_time: float = 0.15
    blend_time: float = 0.2                  # takeover / handback ramp
    max_transition_step: float = 0.1         # largest per-tick command change while blending

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise ValueError(f"ArbiterConfig.{f.name} must be a number, got {value!r}")
        if not 0.0 <= self.takeover_deflection < 1.0:
            raise ValueError(f"takeover_deflection must be in [0, 1), got {self.takeover_deflection}")
        if not isinstance(self.motion_sustain_ticks, int) or self.motion_sustain_ticks < 1:
            raise ValueError(f"motion_sustain_ticks must be an integer >= 1, got {self.motion_sustain_ticks}")
        for name in ("glove_takeover_deviation", "glove_motion_threshold", "idle_handback_time",
                     "device_timeout", "policy_timeout", "max_transition_step"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("glove_motion_threshold", "device_timeout", "policy_timeout", "max_transition_step",
                     "button_debounce_time", "blend_time"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)}")
        for name in ("button_debounce_time", "blend_time"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class ArbiterOutput:
    """The decision of one tick. command: (J,) joint targets to send."""
    command: np.ndarray
    source: int
    edge: int
    reason: int              # reason of the most recent edge (sticky, as in the message)
    intervention_id: int     # 1, 2, ... per takeover in the episode; 0 before the first
    human_idle_time: float   # seconds since the human last moved (0 when not in control)
    resume_policy: bool      # control went to the policy on this tick: reset the scheduler
    tick: int
    transition: bool = False  # an edge tick or a tick of the blend that follows it
    detail: str = ""


class InterventionArbiter:
    """Edge-triggered source selection between policy, human and safety hold.

    teleop: the glove + spacemouse pipeline (its retargeter and filter read the devices, its
        clutch and integrator make the human's arm target). The arbiter owns its clutch:
        it engages at takeover and releases at handback or hold.
    """

    def __init__(self, teleop: TeleopPipeline, config: ArbiterConfig = ArbiterConfig(),
                 human_only: bool = False):
        deadband = teleop.spacemouse.config.deadband
        if config.takeover_deflection < deadband:
            raise ValueError(f"takeover_deflection {config.takeover_deflection} is inside the "
                             f"spacemouse deadband {deadband}")
        self.teleop = teleop
        self.config = config
        self.human_only = bool(human_only)
        self.n_arm = teleop.n_arm
        self.start_episode(None)

    # ---- episode and latch control ---------------------------------------------------------
    def start_episode(self, measured: np.ndarray | None, now: float = 0.0) -> None:
        """New episode: policy in control, counters cleared, clutch out, e-stop kept latched
        (only `reset_estop()` clears it)."""
        self.source = SOURCE_POLICY
        self.reason = REASON_EPISODE_BOUNDARY
        self.intervention_id = 0
        self.tick = 0
        self._last_sent = None if measured is None else np.asarray(measured, float).copy()
        # Button levels are the device's state, not the episode's: a button held across the
        # start of an episode is not a new press.
        self._buttons = getattr(self, "_buttons", (False, False))
        self._last_press_time = -math.inf
        self._motion_ticks = 0
        self._idle_since = now
        self._idle_anchor: np.ndarray | None = None
        self._glove_rest: np.ndarray | None = None
        self._blend_from: np.ndarray | None = None
        self._blend_start = 0.0
        self._hold_cause = REASON_NONE
        self._hold_from = SOURCE_POLICY
        self._estop_latched = getattr(self, "_estop_latched", False)
        self.teleop.release()
        # Human-only: the first tick with fresh devices hands the episode to the human.
        self._human_start_pending = self.human_only and not self._estop_latched
        if self._estop_latched:
            self.source = SOURCE_SAFETY_HOLD
            self.reason = self._hold_cause = REASON_ESTOP

    @property
    def estop_latched(self) -> bool:
        return self._estop_latched

    def reset_estop(self) -> None:
        """Clear the e-stop latch. The hand keeps holding until a button press hands
        control to the human (who can then hand back to the policy)."""
        self._estop_latched = False

    # ---- the tick ----------------------------------------------------------------------------
    def step(self, now: float, measured: np.ndarray, policy_command: np.ndarray | None,
             reading: DeviceReading | None, *, policy_age: float = 0.0, glove_age: float = 0.0,
             spacemouse_age: float = 0.0, estop: bool = False) -> ArbiterOutput:
        """Decide this tick's command.

        measured: (J,) joint positions. policy_command: (J,) or None when the policy has
        nothing. reading: this tick's device reading, or None when no device data exists.
        Ages are seconds since each input was produced.
        """
        measured = np.asarray(measured, float)
        if self._last_sent is None:
            self._last_sent = measured.copy()
        if policy_command is not None:
            policy_command = np.asarray(policy_command, float)
            if policy_command.shape != measured.shape or not np.all(np.isfinite(policy_command)):
                policy_command = None  # a malformed command is no command
        devices_fresh = (reading is not None and glove_age <= self.config.device_timeout
                         and spacemouse_age <= self.config.device_timeout)
        policy_fresh = policy_command is not None and policy_age <= self.config.policy_timeout
        press = self._button_edge(now, reading if devices_fresh else None)

        edge, detail = EDGE_NONE, ""
        if estop and not self._estop_latched:
            self._estop_latched = True
            self._human_start_pending = False  # after a reset, only a press resumes
        if self._estop_latched:
            if self.source != SOURCE_SAFETY_HOLD or self._hold_cause != REASON_ESTOP:
                edge, detail = self._to_hold(REASON_ESTOP), "e-stop latched"
            elif press:
                detail = "button ignored: e-stop latched"
        elif self._human_start_pending:
            edge, detail = self._human_start_tick(now, measured, devices_fresh)
        elif self.source == SOURCE_POLICY:
            edge, detail = self._policy_tick(now, measured, policy_command, policy_fresh,
                                             reading, devices_fresh, press)
        elif self.source == SOURCE_HUMAN:
            edge, detail = self._human_tick(now, policy_fresh, reading, devices_fresh, press)
        else:
            edge, detail = self._hold_tick(now, measured, policy_fresh, devices_fresh, press)

        transition = edge != EDGE_NONE or self._blend_from is not None
        command = self._command(now, edge, policy_command, reading)
        self._last_sent = command.copy()
        out = ArbiterOutput(command=command, source=self.source, edge=edge, reason=self.reason,
                            intervention_id=self.intervention_id,
                            human_idle_time=(now - self._idle_since) if self.source == SOURCE_HUMAN else 0.0,
                            resume_policy=edge != EDGE_NONE and self.source == SOURCE_POLICY,
                            tick=self.tick, transition=transition, detail=detail)
        self.tick += 1
        return out

    # ---- per-source rules --------------------------------------------------------------------
    def _policy_tick(self, now, measured, policy_command, policy_fresh, reading, devices_fresh, press):
        if not policy_fresh:
            return self._to_hold(REASON_STALE_INPUT), "policy command stale or missing"
        if press:
            return self._to_human(now, measured, REASON_BUTTON), "button"
        if devices_fresh and self._moving_for_takeover(reading, policy_command):
            self._motion_ticks += 1
            if self._motion_ticks >= self.config.motion_sustain_ticks:
                return self._to_human(now, measured, REASON_DEVICE_MOTION), "device motion"
        else:
            self._motion_ticks = 0
        return EDGE_NONE, ""

    def _human_start_tick(self, now, measured, devices_fresh):
        if devices_fresh:
            self._human_start_pending = False
            return self._to_human(now, measured, REASON_EPISODE_BOUNDARY), "human-only: episode starts under human control"
        if self.source != SOURCE_SAFETY_HOLD:
            return self._to_hold(REASON_STALE_INPUT), "human-only: waiting for glove and spacemouse"
        return EDGE_NONE, ""

    def _human_tick(self, now, policy_fresh, reading, devices_fresh, press):
        if not devices_fresh:
            return self._to_hold(REASON_STALE_INPUT), "glove or spacemouse stale or missing"
        if self._moved(reading):
            self._idle_since = now
        if self.human_only:
            return EDGE_NONE, "button ignored: human-only mode" if press else ""
        if press:
            return self._handback(now, policy_fresh, REASON_BUTTON)
        if now - self._idle_since >= self.config.idle_handback_time:
            return self._handback(now, policy_fresh, REASON_HUMAN_IDLE)
        return EDGE_NONE, ""

    def _hold_tick(self, now, measured, policy_fresh, devices_fresh, press):
        if press:  # `press` is only ever True with fresh devices
            return self._to_human(now, measured, REASON_BUTTON), "button in hold"
        if (self._hold_cause == REASON_STALE_INPUT and self._hold_from == SOURCE_POLICY and policy_fresh
                and not self.human_only):
            return self._to_policy(now, REASON_NONE), "policy command fresh again"
        return EDGE_NONE, ""

    # ---- transitions -------------------------------------------------------------------------
    def _to_human(self, now: float, measured: np.ndarray, reason: int) -> int:
        self.teleop.engage(measured)  # the clutch: the arm target starts where the arm is
        self.source, self.reason = SOURCE_HUMAN, reason
        self.intervention_id += 1
        self._idle_since, self._idle_anchor = now, None
        self._motion_ticks = 0
        self._start_blend(now)
        return EDGE_TAKEOVER

    def _handback(self, now: float, policy_fresh: bool, reason: int):
        if not policy_fresh:
            return self._to_hold(REASON_STALE_INPUT), "handback with no fresh policy command"
        return self._to_policy(now, reason), REASON_NAMES[reason]

    def _to_policy(self, now: float, reason: int) -> int:
        self.teleop.release()
        self.source, self.reason = SOURCE_POLICY, reason
        self._motion_ticks = 0
        self._glove_rest = None
        self._start_blend(now)
        return EDGE_HANDBACK

    def _to_hold(self, reason: int) -> int:
        self._hold_from = self.source
        self.teleop.release()
        self.source, self.reason, self._hold_cause = SOURCE_SAFETY_HOLD, reason, reason
        self._blend_from = None
        return EDGE_HOLD

    def _start_blend(self, now: float) -> None:
        self._blend_from = self._last_sent.copy()
        self._blend_start = now

    # ---- inputs ------------------------------------------------------------------------------
    def _button_edge(self, now: float, reading: DeviceReading | None) -> bool:
        """One accepted press per rising edge of either button (both at once: one press);
        edges within the debounce time of the last accepted press are bounce."""
        if reading is None:
            return False  # stale devices: their buttons mean nothing, keep the last known state
        buttons = (bool(reading.buttons[0]), bool(reading.buttons[1]))
        rising = any(b and not a for a, b in zip(self._buttons, buttons))
        self._buttons = buttons
        if rising and now - self._last_press_time >= self.config.button_debounce_time:
            self._last_press_time = now
            return True
        return False

    def _moving_for_takeover(self, reading: DeviceReading, policy_command: np.ndarray) -> bool:
        deflected = np.max(np.abs(reading.spacemouse_axes)) > self.config.takeover_deflection
        if math.isinf(self.config.glove_takeover_deviation):
            return bool(deflected)
        fingers = self.teleop.retargeter(reading.glove)
        if self._glove_rest is None:
            self._glove_rest = fingers
        limit = self.config.glove_takeover_deviation
        moved = np.max(np.abs(fingers - self._glove_rest)) > limit
        away = np.max(np.abs(fingers - policy_command[self.n_arm:])) > limit
        return bool(deflected or (moved and away))

    def _moved(self, reading: DeviceReading) -> bool:
        """Human motion: spacemouse outside the takeover deflection, or the glove's fingers
        moved more than the threshold from where they were when the human was last still
        (an anchor, so that glove noise does not count as motion)."""
        fingers = self.teleop.retargeter(reading.glove)
        if self._idle_anchor is None:
            self._idle_anchor = fingers
        glove_moved = np.max(np.abs(fingers - self._idle_anchor)) > self.config.glove_motion_threshold
        if glove_moved:
            self._idle_anchor = fingers
        deflected = np.max(np.abs(reading.spacemouse_axes)) > self.config.takeover_deflection
        return bool(glove_moved or deflected)

    # ---- the command -------------------------------------------------------------------------
    def _command(self, now: float, edge: int, policy_command, reading) -> np.ndarray:
        if edge != EDGE_NONE or self.source == SOURCE_SAFETY_HOLD:
            return self._last_sent.copy()  # edge ticks and holds keep the last sent command
        if self.source == SOURCE_HUMAN:
            wanted = self.teleop(reading)
        else:
            wanted = policy_command
        if self._blend_from is None:
            return wanted.copy()
        limit = self.config.max_transition_step
        weight = 1.0 if self.config.blend_time == 0 else min(1.0, (now - self._blend_start) / self.config.blend_time)
        blended = self._blend_from + weight * (wanted - self._blend_from)
        if weight >= 1.0 and np.max(np.abs(wanted - self._last_sent)) <= limit:
            self._blend_from = None  # caught up: pass through from now on
            return wanted.copy()
        return self._last_sent + np.clip(blended - self._last_sent, -limit, limit)
