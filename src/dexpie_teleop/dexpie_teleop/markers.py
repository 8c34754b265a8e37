"""What the arbiter shows in RViz, as plain geometry (no ROS; the node makes the messages).

Three markers, each with a fixed namespace and id so that every update replaces the last:
  - "control" text: who commands the hand (colour by source), the intervention id and, in a
    hold, why;
  - "policy_chunk" line strip: the policy's planned chunk, one point per action;
  - "human_target" sphere: where the human's command puts the hand (only while the human
    commands; otherwise deleted).

Positions in 3D come from joint values: `PositionProjection` maps three named joints (e.g. an
arm's translation slides) to x, y, z with `matrix @ q[joints] + offset` (the slides' axes
need not be the frame's). Without position joints only the text is drawn, at the origin.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dexpie_teleop.arbiter import (REASON_NAMES, SOURCE_HUMAN, SOURCE_NAMES, SOURCE_POLICY,
                                   SOURCE_SAFETY_HOLD)

KIND_TEXT = "text"
KIND_LINE_STRIP = "line_strip"
KIND_SPHERE = "sphere"

NS_CONTROL = "control"
NS_CHUNK = "policy_chunk"
NS_HUMAN = "human_target"

# RGBA per source: policy green, human orange, safety hold red.
SOURCE_COLORS = {
    SOURCE_POLICY: (0.2, 0.8, 0.2, 1.0),
    SOURCE_HUMAN: (1.0, 0.55, 0.0, 1.0),
    SOURCE_SAFETY_HOLD: (0.9, 0.1, 0.1, 1.0),
}
CHUNK_COLOR = (0.2, 0.5, 1.0, 0.9)
TEXT_SIZE = 0.04          # m, height of the letters
LINE_WIDTH = 0.005        # m
SPHERE_DIAMETER = 0.03    # m


@dataclass(frozen=True)
class MarkerGeometry:
    """One marker. points: (N, 3) (text and sphere: their single position).
    visible=False: the viewer should delete the marker (nothing to show now)."""
    namespace: str
    marker_id: int
    kind: str
    points: np.ndarray
    color: tuple[float, float, float, float]
    scale: tuple[float, float, float]
    text: str = ""
    visible: bool = True


class PositionProjection:
    """Joint values -> a point in the marker frame: matrix (3, 3) @ q[position_joints] + offset."""

    def __init__(self, position_joints: Sequence[str], matrix=None, offset=None):
        if len(position_joints) != 3:
            raise ValueError(f"need 3 position joints (x, y, z), got {list(position_joints)}")
        self.position_joints = tuple(position_joints)
        self.matrix = np.eye(3) if matrix is None else np.asarray(matrix, float).reshape(3, 3)
        self.offset = np.zeros(3) if offset is None else np.asarray(offset, float).reshape(3)

    def points(self, values: np.ndarray, joint_names: Sequence[str]) -> np.ndarray | None:
        """values: (J,) or (N, J) in `joint_names` order -> (3,) or (N, 3); None when a
        position joint is not among `joint_names`."""
        index = {name: i for i, name in enumerate(joint_names)}
        if any(name not in index for name in self.position_joints):
            return None
        columns = [index[name] for name in self.position_joints]
        q = np.asarray(values, float)[..., columns]
        return q @ self.matrix.T + self.offset


def control_text(source: int, intervention_id: int, reason: int) -> str:
    text = SOURCE_NAMES.get(source, f"source {source}").replace("_", " ").upper()
    if intervention_id > 0:
        text += f"  #{intervention_id}"
    if source == SOURCE_SAFETY_HOLD:
        text += f"  ({REASON_NAMES.get(reason, str(reason)).replace('_', ' ')})"
    return text


class InterventionMarkers:
    """Builds the arbiter's markers for one tick.

    joint_names: order of the command and measured vectors. projection: None to draw the
    text only. text_height: how far above the hand (or the origin) the text floats.
    """

    def __init__(self, joint_names: Sequence[str], projection: PositionProjection | None,
                 text_height: float = 0.15):
        self.joint_names = tuple(joint_names)
        self.projection = projection
        self.text_height = float(text_height)

    def _position(self, values) -> np.ndarray | None:
        if self.projection is None or values is None:
            return None
        return self.projection.points(values, self.joint_names)

    def build(self, source: int, intervention_id: int, reason: int, command: np.ndarray,
              measured: np.ndarray | None, chunk: tuple[Sequence[str], np.ndarray] | None) -> list[MarkerGeometry]:
        """command, measured: (J,) in `joint_names` order. chunk: (its joint names, (H, J')
        absolute targets) of the latest /policy/action_chunk, or None."""
        anchor = self._position(measured)
        if anchor is None:
            anchor = self._position(command)
        at = (np.zeros(3) if anchor is None else anchor) + np.array([0.0, 0.0, self.text_height])
        markers = [MarkerGeometry(NS_CONTROL, 0, KIND_TEXT, at.reshape(1, 3),
                                  SOURCE_COLORS.get(source, (1.0, 1.0, 1.0, 1.0)), (0.0, 0.0, TEXT_SIZE),
                                  control_text(source, intervention_id, reason))]
        path = None
        if chunk is not None and self.projection is not None:
            names, targets = chunk
            path = self.projection.points(np.asarray(targets, float).reshape(-1, len(names)), names)
        markers.append(MarkerGeometry(NS_CHUNK, 0, KIND_LINE_STRIP,
                                      np.zeros((0, 3)) if path is None else path, CHUNK_COLOR,
                                      (LINE_WIDTH, 0.0, 0.0), visible=path is not None and len(path) >= 2))
        target = self._position(command) if source == SOURCE_HUMAN else None
        markers.append(MarkerGeometry(NS_HUMAN, 0, KIND_SPHERE,
                                      np.zeros((1, 3)) if target is None else target.reshape(1, 3),
                                      SOURCE_COLORS[SOURCE_HUMAN], (SPHERE_DIAMETER,) * 3,
                                      visible=target is not None))
        return markers
