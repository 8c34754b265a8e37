"""Data types shared by the chunk scheduler and its inference backends.

Timing convention (used everywhere in this package): control ticks are numbered 0, 1, 2, ...
by the scheduler itself (one per `ChunkScheduler.tick` call). A chunk requested at tick t is
anchored at the observation of tick t, and its row k is the absolute joint target meant for
tick t + k (DESIGN.md: a_rel[k] = q_target[t+k] - q_ref). If it arrives at tick t + d
(d = delay_steps), rows 0..d-1 are in the past and execution starts at start_index = d.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Protocol, runtime_checkable

import numpy as np

MODES = ("async", "naive_async", "sync")


@dataclass
class Observation:
    """What the predictor sees at one tick. Only `joint_positions` is read by the scheduler.

    joint_positions: (J,) measured joint positions; becomes the chunk's anchor q_ref.
    stamp: opaque time stamp (e.g. a ROS time) copied into the chunk record.
    tick: control tick of the observation (filled in by the caller or left None).
    extras: anything else the policy needs (images, object state), never touched here.
    """

    joint_positions: np.ndarray
    stamp: Any = None
    tick: Optional[int] = None
    extras: dict = field(default_factory=dict)


def joint_positions_of(observation: Any) -> np.ndarray:
    """(J,) float array of the observation's joint positions.

    Accepts an `Observation`, any object with a `joint_positions` attribute, or a mapping with
    a "joint_positions" key, so the real policy runner may bring its own observation type.
    """
    if isinstance(observation, Mapping):
        q = observation["joint_positions"]
    else:
        q = observation.joint_positions
    q = np.asarray(q, dtype=float)
    if q.ndim != 1:
        raise ValueError(f"joint_positions must be 1-D (J,), got shape {q.shape}")
    return q


def stamp_of(observation: Any) -> Any:
    """The observation's stamp, or None when it has none."""
    if isinstance(observation, Mapping):
        return observation.get("stamp")
    return getattr(observation, "stamp", None)


@runtime_checkable
class ChunkPredictor(Protocol):
    """A chunked policy in absolute joint targets.

    predict_chunk(observation, prefix_targets) -> (H, J) absolute targets for the ticks
    t_obs, t_obs + 1, ..., t_obs + H - 1. When `prefix_targets` (d, J) is given, these are the
    actions the robot has already committed to for ticks t_obs .. t_obs + d - 1, and the first
    d rows of the result must continue (ideally equal) them. The real predictor re-expresses
    the prefix relative to the new anchor itself; the scheduler deals only in absolute targets.
    """

    def predict_chunk(self, observation: Any,
                      prefix_targets: Optional[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class ChunkRequest:
    """One inference request handed to a backend.

    prefix_targets: (d_prefix, J) committed absolute targets, or None (no prefix).
    """

    chunk_id: int
    observation: Any
    observation_tick: int
    prefix_targets: Optional[np.ndarray]


@dataclass(frozen=True)
class InferenceResult:
    """What a backend hands back: either `targets` (H, J) or an `error` message."""

    request: ChunkRequest
    targets: Optional[np.ndarray]
    error: Optional[str]
    inference_latency: float  # seconds of wall time spent in predict_chunk
    exception: Optional[BaseException] = None  # what the predictor raised, when it raised


class InferenceError(RuntimeError):
    """The predictor failed (raised, or returned a chunk of the wrong shape or with non-finite
    values) and the scheduler runs with `on_error="raise"`: the message names the chunk, the
    tick it was requested at and the failure."""


@dataclass(frozen=True)
class ChunkRecord:
    """Everything the policy_server publishes about one chunk (dexpie_msgs/ActionChunk).

    anchor: (J,) q_ref, joint positions at observation time.
    targets: (H, J) absolute joint targets, row k for tick observation_tick + k.
    prefix_steps: number of committed rows passed to the predictor (0 when none).
    executed: False when the chunk arrived too late to execute any row (start_index >= H).
    """

    chunk_id: int
    observation_tick: int
    observation_stamp: Any
    anchor: np.ndarray
    targets: np.ndarray
    arrival_tick: int
    delay_steps: int
    start_index: int
    inference_latency: float
    prefix_steps: int
    executed: bool

    @property
    def horizon(self) -> int:
        return int(self.targets.shape[0])


@dataclass(frozen=True)
class TickOutput:
    """The scheduler's answer for one control tick.

    target: (J,) absolute joint target to execute now (a copy; safe to keep).
    hold: True when no chunk action was available and `target` repeats the last one
        (or the measured position at start-up). hold_reason is "startup" before the first
        chunk has executed, else "starved" (the queue ran out: sync waiting or a late chunk).
    chunk_id / chunk_index: which chunk row is executed, None while holding.
    arrived: the chunk that arrived this tick (publish it), or None.
    requested_chunk_id: id of the chunk requested this tick, or None.
    error: a predictor error reported this tick, or None.
    """

    tick: int
    target: np.ndarray
    hold: bool
    hold_reason: Optional[str]
    chunk_id: Optional[int]
    chunk_index: Optional[int]
    arrived: Optional[ChunkRecord]
    requested_chunk_id: Optional[int]
    error: Optional[str]
