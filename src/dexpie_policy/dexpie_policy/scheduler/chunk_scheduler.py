"""The asynchronous chunk scheduler: which joint target to execute at each control tick.

The robot never stops to wait for the policy. Each `tick(observation)` call, in this order:

1. request: if no request is in flight and the queue of future actions (including the one
   for this tick) has fallen to `request_threshold` (async modes) or is empty (sync), request
   a chunk anchored at this tick's observation. In `async` mode the next actions of the queue
   that the robot commits to while the chunk is computed are passed as the prefix.
2. arrival: poll the backend (never blocks). A chunk requested at tick t that arrives at tick
   t + d replaces the queue; execution starts at start_index = d (async modes: rows 0..d-1
   are in the past) or 0 (sync: the robot waited, nothing was skipped).
3. execute: the next queued action, or HOLD the last target (measured position at start-up).

Requesting before polling means that a zero-latency simulated chunk is used in the very tick
it is requested, so sync mode with instant inference has no stalls.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Optional

import numpy as np

from dexpie_policy.scheduler.backends import (InferenceBackend, LatencyModel,
                                              SimulatedClockInference, ThreadedInference)
from dexpie_policy.scheduler.types import (MODES, ChunkPredictor, ChunkRecord, ChunkRequest,
                                           InferenceError, InferenceResult, TickOutput,
                                           joint_positions_of, stamp_of)

ON_ERROR = ("report", "raise")


class ChunkScheduler:
    """Per-tick joint targets from a chunk predictor running behind `inference`.

    mode: "async" (default; committed prefix passed, start at d), "naive_async" (same timing,
        no prefix: shows the jumps at chunk boundaries) or "sync" (stop-infer-execute: request
        when the queue is empty, hold until the chunk arrives, execute from index 0).
    request_threshold: request a new chunk when at most this many queued actions remain
        (counting the one for the current tick). Should cover the expected delay in ticks,
        otherwise the queue runs dry before the chunk arrives and the robot holds.
    expected_delay_steps: lower bound on the delay assumed for the prefix length; defaults to
        request_threshold. The delay of the next chunk is unknown when it is requested, so the
        prefix is the next min(queued, max(expected_delay_steps, largest of the last
        `delay_window` measured delays)) actions: erring long is harmless (a continuing model
        reproduces rows that are then executed from either chunk), erring short is a jump.
        With the default the prefix is the whole remaining queue, which always contains every
        action the robot commits to before the chunk arrives.
    max_prefix_steps: cap on the prefix length (the model is trained with d in [0, 4]).
    log_size: number of recent `ChunkRecord`s kept in `chunk_log`.
    first_chunk_wait_s: when > 0 and the backend can wait (`ThreadedInference.wait`), the tick
        that requests the first chunk after a reset (start-up, episode start, hand-back) waits
        up to this many seconds for it and executes its first row at once (delay 0), instead
        of holding while it is inferred. For a clock that waits for the chain (the twin in
        lockstep): the inference then takes no simulated time, so when the policy's first
        command comes does not depend on the machine's load. 0 (default): never block.
    on_error: what a failed chunk (the predictor raised, or returned a wrong shape or
        non-finite values) does. "report" (the default, the robot's policy_server): the tick
        carries the error (`TickOutput.error`, `error_count`, `last_error`), the queue or hold
        continues and the next tick requests again; the caller must say so. "raise" (the
        default of `simulated`, the twin's in-process loops): `tick` raises `InferenceError`,
        so that an evaluation or rollout of a policy that cannot run stops with the error
        instead of reporting a policy that held still.
    """

    def __init__(self, inference: InferenceBackend, *, mode: str = "async",
                 request_threshold: int = 4, expected_delay_steps: Optional[int] = None,
                 max_prefix_steps: Optional[int] = None, delay_window: int = 10,
                 log_size: int = 1000, on_error: str = "report", first_chunk_wait_s: float = 0.0):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        if request_threshold < 0:
            raise ValueError("request_threshold must be >= 0")
        if max_prefix_steps is not None and max_prefix_steps < 0:
            raise ValueError("max_prefix_steps must be >= 0")
        self.inference = inference
        self.mode = mode
        self.request_threshold = int(request_threshold)
        self.expected_delay_steps = int(request_threshold if expected_delay_steps is None
                                        else expected_delay_steps)
        self.max_prefix_steps = max_prefix_steps
        self.on_error = on_error
        if not first_chunk_wait_s >= 0:
            raise ValueError(f"first_chunk_wait_s must be >= 0, got {first_chunk_wait_s!r}")
        self.first_chunk_wait_s = float(first_chunk_wait_s)
        self.chunk_log: deque[ChunkRecord] = deque(maxlen=log_size)
        self._recent_delays: deque[int] = deque(maxlen=delay_window)
        self._next_chunk_id = 0
        self.reset()

    # ---- construction helpers -------------------------------------------------------------

    @classmethod
    def simulated(cls, predictor: ChunkPredictor, latency_ticks: LatencyModel = 0,
                  seed: Optional[int] = 0, on_error: str = "raise",
                  **kwargs: Any) -> "ChunkScheduler":
        """Scheduler on a simulated clock: latency modelled in ticks, no threads. A failed
        chunk raises `InferenceError` unless on_error="report" (see the class docstring)."""
        return cls(SimulatedClockInference(predictor, latency_ticks, seed), on_error=on_error,
                   **kwargs)

    @classmethod
    def threaded(cls, predictor: ChunkPredictor, **kwargs: Any) -> "ChunkScheduler":
        """Scheduler with a wall-clock inference worker thread; call `close()` when done."""
        return cls(ThreadedInference(predictor), **kwargs)

    def close(self) -> None:
        """Stop the inference worker (if any)."""
        self.inference.close()

    def __enter__(self) -> "ChunkScheduler":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- state ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget queue, hold target and tick count (new episode); keep chunk ids increasing.

        A result still in flight is dropped when it arrives (its chunk id is no longer awaited).
        """
        cancel = getattr(self.inference, "cancel", None)
        if cancel is not None and getattr(self, "_in_flight", None) is not None:
            cancel()
        self.tick_count = 0
        self._queue: Optional[np.ndarray] = None  # (H, J) targets of the executing chunk
        self._queue_chunk_id: Optional[int] = None
        self._next_index = 0  # row of _queue for the current tick
        self._in_flight: Optional[ChunkRequest] = None
        self._hold_target: Optional[np.ndarray] = None  # (J,)
        self._executed_any = False
        self.hold_ticks = 0
        self.startup_hold_ticks = 0
        self.chunks_requested = 0
        self.chunks_received = 0
        self.late_chunks = 0  # arrived with start_index >= H: nothing left to execute
        self.error_count = 0
        self.last_error: Optional[str] = None

    @property
    def queued_steps(self) -> int:
        """Future actions left in the queue, counting the one for the next tick."""
        if self._queue is None:
            return 0
        return max(0, self._queue.shape[0] - self._next_index)

    @property
    def in_flight(self) -> bool:
        return self._in_flight is not None

    @property
    def estimated_delay_steps(self) -> int:
        """Upper estimate of the next chunk's delay (ticks), used for the prefix length."""
        return max([self.expected_delay_steps, *self._recent_delays])

    # ---- the tick -------------------------------------------------------------------------

    def tick(self, observation: Any) -> TickOutput:
        """Joint target for this control tick. Never blocks on inference.

        observation: carries `joint_positions` (J,) (the anchor) and optionally `stamp`; it is
            handed to the predictor unchanged and must not be mutated afterwards by the caller.
        """
        tick = self.tick_count
        self.tick_count += 1
        if self._hold_target is None:
            # Start-up: hold where the hand is (latched once, so holding does not follow sag).
            self._hold_target = joint_positions_of(observation).copy()

        requested_id = self._maybe_request(observation, tick)
        if self.first_chunk_wait_s > 0 and self._queue is None and self._in_flight is not None:
            wait = getattr(self.inference, "wait", None)
            if wait is not None:
                wait(self._in_flight.chunk_id, self.first_chunk_wait_s)
        arrived, error = self._collect(tick)

        if self._queue is not None and self._next_index < self._queue.shape[0]:
            index = self._next_index
            target = self._queue[index].copy()
            self._next_index += 1
            self._hold_target = target
            self._executed_any = True
            hold, reason, chunk_id = False, None, self._queue_chunk_id
        else:
            index, target = None, self._hold_target.copy()
            hold, chunk_id = True, None
            reason = "starved" if self._executed_any else "startup"
            self.hold_ticks += 1
            self.startup_hold_ticks += reason == "startup"
        return TickOutput(tick=tick, target=target, hold=hold, hold_reason=reason,
                          chunk_id=chunk_id, chunk_index=index, arrived=arrived,
                          requested_chunk_id=requested_id, error=error)

    def _wants_chunk(self) -> bool:
        if self._in_flight is not None:
            return False
        if self.mode == "sync":
            return self.queued_steps == 0
        return self.queued_steps <= self.request_threshold

    def _committed_prefix(self) -> Optional[np.ndarray]:
        """(d_prefix, J) actions the robot will execute while the new chunk is computed."""
        if self.mode != "async" or self._queue is None:
            return None
        steps = min(self.queued_steps, self.estimated_delay_steps)
        if self.max_prefix_steps is not None:
            steps = min(steps, self.max_prefix_steps)
        if steps <= 0:
            return None
        return self._queue[self._next_index:self._next_index + steps].copy()

    def _maybe_request(self, observation: Any, tick: int) -> Optional[int]:
        if not self._wants_chunk():
            return None
        request = ChunkRequest(chunk_id=self._next_chunk_id, observation=observation,
                               observation_tick=tick, prefix_targets=self._committed_prefix())
        self._next_chunk_id += 1
        self._in_flight = request
        self.chunks_requested += 1
        self.inference.submit(request, tick)
        return request.chunk_id

    def _collect(self, tick: int) -> tuple[Optional[ChunkRecord], Optional[str]]:
        """Take a finished result from the backend, if any, and switch the queue to it."""
        result = self.inference.poll(tick)
        if result is None:
            return None, None
        if self._in_flight is None or result.request.chunk_id != self._in_flight.chunk_id:
            return None, None  # stale result of a request made before reset()
        self._in_flight = None
        error = result.error or self._shape_error(result)
        if error is not None:
            self.error_count += 1
            self.last_error = error
            if self.on_error == "raise":
                request = result.request
                raise InferenceError(f"inference failed for chunk {request.chunk_id} requested at "
                                     f"tick {request.observation_tick}: {error}") from result.exception
            # Report and carry on: the queue (or hold) continues; the next tick requests again.
            return None, error
        return self._accept(result, tick), None

    def _shape_error(self, result: InferenceResult) -> Optional[str]:
        targets = result.targets
        joints = joint_positions_of(result.request.observation).shape[0]
        if targets.ndim != 2 or targets.shape[0] == 0 or targets.shape[1] != joints:
            return f"predictor returned shape {targets.shape}, expected (H, {joints})"
        if not np.all(np.isfinite(targets)):
            return "predictor returned non-finite targets"
        return None

    def _accept(self, result: InferenceResult, tick: int) -> ChunkRecord:
        request = result.request
        delay_steps = tick - request.observation_tick
        self._recent_delays.append(delay_steps)
        start_index = 0 if self.mode == "sync" else delay_steps
        horizon = result.targets.shape[0]
        executed = start_index < horizon
        self.chunks_received += 1
        if executed:
            self._queue = result.targets
            self._queue_chunk_id = request.chunk_id
            self._next_index = start_index
        else:
            # Every row is already in the past: keep what we have (or hold) and ask again.
            self.late_chunks += 1
        prefix = request.prefix_targets
        record = ChunkRecord(
            chunk_id=request.chunk_id, observation_tick=request.observation_tick,
            observation_stamp=stamp_of(request.observation),
            anchor=joint_positions_of(request.observation).copy(), targets=result.targets,
            arrival_tick=tick, delay_steps=delay_steps, start_index=start_index,
            inference_latency=result.inference_latency,
            prefix_steps=0 if prefix is None else int(prefix.shape[0]), executed=executed)
        self.chunk_log.append(record)
        return record
