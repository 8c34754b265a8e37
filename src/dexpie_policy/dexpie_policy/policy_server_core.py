"""The pure core of the policy_server node (no rclpy, no message packages, no torch).

- `ObservationLayout`: which streams a checkpoint needs and how their parts become the
  scheduler's `Observation`, exactly as `dexpie_experiment.evaluation` builds it in the twin
  (joint positions in the action spec's joint order as the anchor, object state when the
  policy uses it, RGB uint8 images of the trained cameras; no joint velocities).
- `Conditioning`: the indicator and guidance the runner is asked for, and what the published
  chunk reports about them.
- `output_order`, `chunk_fields`, `command_is_valid`: the edge between the scheduler's
  records and what the node publishes.
- `ProblemThrottle`: at most one log line per kind of problem per period.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from dexpie_policy.actions import ActionSpec, to_relative
from dexpie_policy.scheduler import ChunkRecord, Observation, TickOutput

JOINT_STREAM = "joint_states"
OBJECT_STREAM = "object_state"
IMAGE_STREAM_PREFIX = "image/"


class ObservationError(ValueError):
    """An observation part that does not fit the checkpoint; the message says which."""


@dataclass(frozen=True)
class ObservationLayout:
    """What one policy observation consists of.

    joint_names: the checkpoint's joint order (the anchor / state order).
    object_dim: K object-state features (0: the policy does not use object state).
    object_names: the order to read /sim/object_state in by name; () = the message's order.
    camera_names / image_shape: trained cameras and their (height, width, 3) RGB frames.
    """

    joint_names: tuple[str, ...]
    object_dim: int = 0
    object_names: tuple[str, ...] = ()
    camera_names: tuple[str, ...] = ()
    image_shape: tuple[int, int, int] = (64, 64, 3)

    def __post_init__(self):
        if self.object_names and len(self.object_names) != self.object_dim:
            raise ObservationError(
                f"object_names lists {len(self.object_names)} features, the checkpoint uses "
                f"object_dim={self.object_dim}" + (" (no object state)" if not self.object_dim
                                                   else ""))

    @classmethod
    def from_checkpoint(cls, config: Any, spec: ActionSpec,
                        object_names: Sequence[str] = ()) -> "ObservationLayout":
        """From a FlowPolicyConfig (duck-typed) and the checkpoint's action spec."""
        return cls(joint_names=tuple(spec.joint_names), object_dim=int(config.object_dim),
                   object_names=tuple(object_names), camera_names=tuple(config.camera_names),
                   image_shape=(*config.image_size, config.image_channels))

    @property
    def uses_object_state(self) -> bool:
        return self.object_dim > 0

    @property
    def streams(self) -> tuple[str, ...]:
        """Stream names for the synchroniser, the joint states first."""
        return ((JOINT_STREAM,) + ((OBJECT_STREAM,) if self.uses_object_state else ())
                + tuple(image_stream(name) for name in self.camera_names))

    def joint_vector(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=float)
        if positions.shape != (len(self.joint_names),) or not np.all(np.isfinite(positions)):
            raise ObservationError(f"joint positions must be {len(self.joint_names)} finite "
                                   f"values, got {positions.tolist()}")
        return positions

    def object_vector(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if values.shape != (self.object_dim,):
            raise ObservationError(f"object state has {values.size} values, the checkpoint "
                                   f"uses object_dim={self.object_dim}")
        if not np.all(np.isfinite(values)):
            raise ObservationError(f"object state is not finite: {values.tolist()}")
        return values

    def image(self, camera: str, rgb: np.ndarray) -> np.ndarray:
        """Check an RGB frame against the trained camera and size (no resizing: the twin's
        evaluation feeds frames as rendered, so the graph does too)."""
        if camera not in self.camera_names:
            raise ObservationError(f"camera {camera!r} is not used by the checkpoint "
                                   f"(cameras {list(self.camera_names)})")
        rgb = np.asarray(rgb)
        if rgb.shape != self.image_shape or rgb.dtype != np.uint8:
            raise ObservationError(f"camera {camera!r}: image {rgb.shape} {rgb.dtype}, the "
                                   f"checkpoint was trained on {self.image_shape} uint8")
        return rgb

    def observation(self, aligned: dict[str, Any], stamp: Any) -> Observation:
        """The scheduler's observation from a synchroniser's aligned set."""
        images = {name: aligned[image_stream(name)] for name in self.camera_names}
        return Observation(aligned[JOINT_STREAM], stamp=stamp,
                           extras={"object_state": aligned.get(OBJECT_STREAM),
                                   "images": images or None})


def image_stream(camera: str) -> str:
    return IMAGE_STREAM_PREFIX + camera


@dataclass(frozen=True)
class Conditioning:
    """runner_kwargs: passed to PolicyRunner.predict_chunk on every chunk.
    optimality / cfg_scale: what the chunk was really conditioned on (NaN: unconditioned;
    cfg 1.0: no guidance), as published in dexpie_msgs/ActionChunk."""

    runner_kwargs: dict
    optimality: float
    cfg_scale: float

    @classmethod
    def resolve(cls, trained_with_indicator: bool, condition_on_optimality: bool,
                optimality: float, cfg_scale: float) -> "Conditioning":
        if trained_with_indicator and condition_on_optimality:
            return cls({"optimality": float(optimality), "cfg_scale": float(cfg_scale)},
                       float(optimality), float(cfg_scale))
        # Plain BC, or the null condition of an indicator policy: no guidance is applied.
        return cls({"optimality": None, "cfg_scale": float(cfg_scale)}, math.nan, 1.0)


def check_running_hand(checkpoint_joints: Sequence[str], running_hand) -> None:
    """A checkpoint drives the running hand only if it names exactly the hand's joints
    (running_hand: the graph's HandDescription, or None when the parameters hold none)."""
    if running_hand is None:
        return
    checkpoint_joints = list(checkpoint_joints)
    missing = [n for n in running_hand.joint_names if n not in checkpoint_joints]
    unknown = [n for n in checkpoint_joints if n not in running_hand.joint_names]
    if missing or unknown:
        raise ObservationError(f"the checkpoint does not match the running hand "
                               f"{running_hand.name!r}: the hand's joints {missing} are not in "
                               f"the checkpoint, the checkpoint's joints {unknown} are not the "
                               f"hand's")


def output_order(checkpoint_joints: Sequence[str], requested: Sequence[str]) -> np.ndarray:
    """Indices into the checkpoint's joint order giving the published order.

    requested: the node's joint_names parameter; empty = the checkpoint's order. It must name
    exactly the checkpoint's joints (any order)."""
    checkpoint_joints = list(checkpoint_joints)
    if not requested:
        return np.arange(len(checkpoint_joints))
    missing = [n for n in checkpoint_joints if n not in requested]
    unknown = [n for n in requested if n not in checkpoint_joints]
    if missing or unknown or len(requested) != len(checkpoint_joints):
        raise ObservationError(f"joint_names must name exactly the checkpoint's joints "
                               f"{checkpoint_joints}: missing {missing}, not in the "
                               f"checkpoint {unknown}")
    return np.array([checkpoint_joints.index(n) for n in requested], dtype=np.int64)


def chunk_fields(record: ChunkRecord, spec: ActionSpec, order: np.ndarray,
                 conditioning: Conditioning) -> dict:
    """Everything dexpie_msgs/ActionChunk carries about a chunk, as plain values.

    Columns of anchor/targets follow `order` (the published joint order); `actions` are the
    chunk in the trained representation (per group, see group_joint_names), recomputed from
    the absolute targets and the anchor exactly as the model's output was converted."""
    actions = to_relative(record.targets, record.anchor, spec)
    return {
        "chunk_id": int(record.chunk_id),
        "joint_names": [spec.joint_names[i] for i in order],
        "anchor": record.anchor[order].tolist(),
        "group_names": [g.name for g in spec.groups],
        "group_representations": [g.representation for g in spec.groups],
        "group_joint_names": [f"{g.name}/{joint}" for g in spec.groups for joint in g.joints],
        "horizon": int(record.horizon),
        "action_dim": int(spec.action_dim),
        "actions": actions.ravel().tolist(),
        "targets": record.targets[:, order].ravel().tolist(),
        "delay_steps": int(record.delay_steps),
        "start_index": int(record.start_index),
        "inference_latency": float(record.inference_latency),
        "optimality": conditioning.optimality,
        "cfg_scale": conditioning.cfg_scale,
    }


def command_is_valid(out: TickOutput, inference_failing: bool) -> bool:
    """Whether this tick's target is a command the policy stands behind.

    Not before the first chunk (the start-up hold is the measured position, not a policy
    decision), and not while holding because inference failed: silence lets the arbiter see
    a stale policy instead of a hand frozen under "policy" control. Holding while a chunk is
    late (or in sync mode, while waiting) is the policy's command."""
    if not out.hold:
        return True
    return out.hold_reason != "startup" and not inference_failing


class ProblemThrottle:
    """At most one log line per problem kind per `period` seconds, counting the rest."""

    def __init__(self, period: float):
        self.period = float(period)
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def admit(self, kind: str, now: float) -> Optional[int]:
        """None: stay quiet. Otherwise the number of occurrences suppressed since the last
        line of this kind (log it)."""
        last = self._last.get(kind)
        if last is not None and now - last < self.period:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return self._suppressed.pop(kind, 0)
