"""When the twin takes its next step in lockstep with the control chain (pure, no ROS).

With `clock: lockstep` the twin is the graph's clock (/clock; every other node runs with
use_sim_time), and simulated time advances one control period per tick, only once the chain
has answered the tick: the arbiter's /intervention/state stamped with the tick's
/joint_states stamp has arrived, a controller command has arrived since the tick went out,
and the simulated person's /spacenav/joy of that stamp (its reaction to the tick, so the
devices never fall behind the twin). Each of the three counts once it has been heard from at
all: a node that has not connected yet (discovery on a busy machine can take seconds) is not
waited for, the others are. On an idle machine that is real time (ticks still wait for the wall-clock pace); on a
busy one simulated time slows down instead of the twin stepping on with a stale command, so
what the graph does per tick does not depend on the load.

Two phases do not wait long for an answer: start-up and a dead policy server. Until
`ANSWERED_STREAK` ticks in a row were answered, a tick waits at most `short_wait_s` (half a
wall period: the arbiter's and the controller's fallback timers then tick on simulated time as
they would on wall time); after that, up to `answer_timeout_s`. A tick that got no answer is
counted. (The policy's first chunk of an episode answers its tick: the policy server's
`first_chunk_wait`, which the lockstep graph sets.)

After a reset (/sim/reset_to_stage) the twin stands still until the episode's START event
(the recorder's first tick is then the scene's first tick, whatever the service calls took),
or `start_timeout_s` wall seconds, after which it ticks again (nobody started an episode).
"""
from __future__ import annotations

from dataclasses import dataclass

ANSWERED_STREAK = 3   # answered ticks in a row before a tick may wait the long timeout


@dataclass(frozen=True)
class LockstepTiming:
    """Wall-clock limits of the gate (seconds)."""
    short_wait_s: float         # the wait while the chain is not answering (one wall period)
    answer_timeout_s: float     # the longest wait for the answer to a tick once the chain answers
    start_timeout_s: float      # the longest stand-still after a reset without an episode START

    def __post_init__(self):
        for name in ("short_wait_s", "answer_timeout_s", "start_timeout_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"LockstepTiming.{name} must be > 0, got {value!r}")


class LockstepGate:
    """Decides, at each wall-clock pace tick, whether the twin steps now.

    Feed it what the twin sees: `published(stamp_ns, now)` after each /joint_states,
    `state_received(stamp_ns)` for each /intervention/state, `command_received()` for each
    controller command, `operator_received(stamp_ns)` for each /spacenav/joy, `reset(now)` and `episode_started()`. `may_step(now)` says whether
    to step; it counts ticks stepped without an answer in `unanswered_ticks`.
    `now` is a monotonic wall-clock reading in seconds."""

    def __init__(self, timing: LockstepTiming):
        self.timing = timing
        self.unanswered_ticks = 0
        self.answered_ticks = 0
        self._streak = 0
        self._waiting_stamp: int | None = None   # stamp of the tick awaiting its answer
        self._since = 0.0                         # when that tick went out (or the reset came)
        self._state_seen = self._command_seen = self._operator_seen = False
        self._state_present = self._command_present = self._operator_present = False
        self._holding_for_start = False

    @property
    def holding_for_start(self) -> bool:
        return self._holding_for_start

    def published(self, stamp_ns: int, now: float) -> None:
        self._waiting_stamp, self._since = stamp_ns, now
        self._state_seen = self._command_seen = self._operator_seen = False

    def operator_received(self, stamp_ns: int) -> None:
        """A device message of the simulated operator, stamped with the tick it reacts to."""
        self._operator_present = True
        if self._waiting_stamp is not None and stamp_ns == self._waiting_stamp:
            self._operator_seen = True

    def state_received(self, stamp_ns: int) -> None:
        self._state_present = True
        if self._waiting_stamp is not None and stamp_ns == self._waiting_stamp:
            self._state_seen = True

    def command_received(self) -> None:
        self._command_present = True
        if self._waiting_stamp is not None:
            self._command_seen = True

    def reset(self, now: float) -> None:
        """The scene was reset: stand still until the episode starts."""
        self._holding_for_start, self._since = True, now
        self._waiting_stamp = None

    def episode_started(self) -> None:
        self._holding_for_start = False

    @property
    def answered(self) -> bool:
        present = (self._state_present, self._command_present, self._operator_present)
        seen = (self._state_seen, self._command_seen, self._operator_seen)
        return any(present) and all(s or not p for s, p in zip(seen, present))

    def may_step(self, now: float) -> bool:
        if self._holding_for_start:
            if now - self._since < self.timing.start_timeout_s:
                return False
            self._holding_for_start = False
            return True
        if self._waiting_stamp is None:
            return True
        if self.answered:
            self.answered_ticks += 1
            self._streak += 1
            self._waiting_stamp = None
            return True
        wait = (self.timing.answer_timeout_s if self._streak >= ANSWERED_STREAK
                else self.timing.short_wait_s)
        if now - self._since < wait:
            return False
        self.unanswered_ticks += 1
        self._streak = 0
        self._waiting_stamp = None
        return True
