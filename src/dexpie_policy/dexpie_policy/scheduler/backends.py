"""Two ways of running inference behind the same scheduler logic.

- `SimulatedClockInference`: one process, no threads. The predictor is called at once, but its
  result is delivered only `latency_ticks` control ticks later. Deterministic and fast, for
  the simulation experiments (hundreds of episodes on a CPU).
- `ThreadedInference`: a worker thread runs the predictor (torch releases the GIL) while the
  tick loop polls without blocking; the delay is whatever number of ticks elapse.

Both catch predictor exceptions and hand them back as `InferenceResult.error` (with the
exception itself), so that the scheduler decides what a failure means: on a robot a faulty
model must not take the control loop down (the scheduler holds and reports), in the twin's
in-process loops it stops the run (`ChunkScheduler(on_error="raise")`).
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Union

import numpy as np

from dexpie_policy.scheduler.types import ChunkPredictor, ChunkRequest, InferenceResult


class InferenceBackend(Protocol):
    """At most one request is in flight at a time (the scheduler guarantees it)."""

    def submit(self, request: ChunkRequest, tick: int) -> None: ...

    def poll(self, tick: int) -> Optional[InferenceResult]: ...

    def close(self) -> None: ...


def _run_predictor(predictor: ChunkPredictor, request: ChunkRequest) -> InferenceResult:
    start = time.perf_counter()
    exception = None
    try:
        targets = np.array(predictor.predict_chunk(request.observation, request.prefix_targets),
                           dtype=float)
        error = None
    except Exception as exc:  # noqa: BLE001 - handed to the scheduler, which reports or raises
        targets, exception = None, exc
        error = f"{type(exc).__name__}: {exc}"[:500]
    return InferenceResult(request=request, targets=targets, error=error,
                           inference_latency=time.perf_counter() - start, exception=exception)


@dataclass(frozen=True)
class UniformLatency:
    """Latency drawn uniformly from the integers low..high (inclusive), in ticks."""

    low: int
    high: int

    def __call__(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))


LatencyModel = Union[int, Callable[[np.random.Generator], int]]


class SimulatedClockInference:
    """Predictor called immediately; result delivered `latency_ticks` ticks after the request.

    latency_ticks: a fixed int, or a callable drawing an int from a seeded numpy Generator
        (e.g. `UniformLatency(2, 4)`), which models the inference time in control ticks.
    """

    def __init__(self, predictor: ChunkPredictor, latency_ticks: LatencyModel = 0,
                 seed: Optional[int] = 0):
        self.predictor = predictor
        self.latency_ticks = latency_ticks
        self.rng = np.random.default_rng(seed)
        self._pending: Optional[tuple[int, InferenceResult]] = None

    def _draw_latency(self) -> int:
        latency = self.latency_ticks(self.rng) if callable(self.latency_ticks) \
            else self.latency_ticks
        if int(latency) < 0:
            raise ValueError(f"latency_ticks must be >= 0, got {latency}")
        return int(latency)

    def submit(self, request: ChunkRequest, tick: int) -> None:
        if self._pending is not None:
            raise RuntimeError("a request is already in flight")
        result = _run_predictor(self.predictor, request)
        self._pending = (tick + self._draw_latency(), result)

    def poll(self, tick: int) -> Optional[InferenceResult]:
        if self._pending is None or tick < self._pending[0]:
            return None
        result, self._pending = self._pending[1], None
        return result

    def cancel(self) -> None:
        """Forget the request in flight (episode reset)."""
        self._pending = None

    def close(self) -> None:
        self._pending = None


_STOP = object()


class ThreadedInference:
    """A daemon worker thread running the predictor; `poll` never blocks.

    The worker is a daemon so that a predictor stuck forever cannot keep the process alive;
    `close()` asks it to stop and joins it for at most `join_timeout` seconds.
    """

    def __init__(self, predictor: ChunkPredictor, join_timeout: float = 5.0):
        self.predictor = predictor
        self.join_timeout = join_timeout
        self._requests: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._closed = False
        self._ready: Optional[InferenceResult] = None   # taken off the queue by wait()
        self._thread = threading.Thread(target=self._work, name="chunk-inference", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            request = self._requests.get()
            if request is _STOP:
                return
            self._results.put(_run_predictor(self.predictor, request))

    def submit(self, request: ChunkRequest, tick: int) -> None:
        if self._closed:
            raise RuntimeError("inference backend is closed")
        self._requests.put(request)

    def poll(self, tick: int) -> Optional[InferenceResult]:
        if self._ready is not None:
            result, self._ready = self._ready, None
            return result
        try:
            return self._results.get_nowait()
        except queue.Empty:
            return None

    def wait(self, chunk_id: int, timeout: float) -> bool:
        """Block until the result of `chunk_id` is there (then `poll` returns it) or `timeout`
        seconds passed; results of other (older, reset-away) requests are dropped."""
        deadline = time.monotonic() + timeout
        while self._ready is None or self._ready.request.chunk_id != chunk_id:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                self._ready = self._results.get(timeout=remaining)
            except queue.Empty:
                return False
        return True

    def cancel(self) -> None:
        """Nothing to do: a result still in flight is dropped by the scheduler by chunk id."""

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._requests.put(_STOP)
        self._thread.join(self.join_timeout)
