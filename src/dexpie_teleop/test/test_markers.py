"""The arbiter's RViz markers as plain geometry."""
import numpy as np
import pytest

from dexpie_teleop import arbiter as arb
from dexpie_teleop.markers import (KIND_LINE_STRIP, KIND_SPHERE, KIND_TEXT, NS_CHUNK, NS_CONTROL, NS_HUMAN,
                                   SOURCE_COLORS, InterventionMarkers, PositionProjection, control_text)

JOINTS = ("slide_x", "f0", "slide_y", "slide_z", "f1")
COMMAND = np.array([0.1, 0.5, 0.2, 0.3, 0.6])


def by_namespace(markers):
    return {m.namespace: m for m in markers}


def test_projection_picks_the_named_joints_and_applies_the_affine_map():
    # A forearm whose slides are (-x, +z, +y) of the world, mounted 1 m up.
    matrix = [[-1, 0, 0], [0, 0, 1], [0, 1, 0]]
    projection = PositionProjection(("slide_x", "slide_y", "slide_z"), matrix, [0, 0, 1.0])
    np.testing.assert_allclose(projection.points(COMMAND, JOINTS), [-0.1, 0.3, 1.2])
    path = projection.points(np.stack([COMMAND, COMMAND + 1.0]), JOINTS)
    np.testing.assert_allclose(path, [[-0.1, 0.3, 1.2], [-1.1, 1.3, 2.2]])
    assert projection.points(COMMAND[:2], JOINTS[:2]) is None  # position joints absent
    with pytest.raises(ValueError, match="3 position joints"):
        PositionProjection(("slide_x", "slide_y"))


def test_text_says_who_commands_with_the_intervention_id_and_the_hold_reason():
    assert control_text(arb.SOURCE_POLICY, 0, arb.REASON_EPISODE_BOUNDARY) == "POLICY"
    assert control_text(arb.SOURCE_HUMAN, 3, arb.REASON_BUTTON) == "HUMAN  #3"
    assert control_text(arb.SOURCE_SAFETY_HOLD, 2, arb.REASON_STALE_INPUT) == "SAFETY HOLD  #2  (stale input)"


def test_policy_tick_draws_the_chunk_as_a_line_strip_of_h_points_and_no_human_target():
    markers = InterventionMarkers(JOINTS, PositionProjection(("slide_x", "slide_y", "slide_z")), text_height=0.2)
    chunk_joints = ["f1", "slide_z", "slide_y", "slide_x"]  # its own column order
    targets = np.arange(8 * 4, dtype=float).reshape(8, 4)
    out = by_namespace(markers.build(arb.SOURCE_POLICY, 0, arb.REASON_NONE, COMMAND, COMMAND + 0.01,
                                     (chunk_joints, targets.ravel())))
    text = out[NS_CONTROL]
    assert text.kind == KIND_TEXT and text.text == "POLICY" and text.color == SOURCE_COLORS[arb.SOURCE_POLICY]
    np.testing.assert_allclose(text.points, [[0.11, 0.21, 0.31 + 0.2]])  # above the measured hand
    line = out[NS_CHUNK]
    assert line.kind == KIND_LINE_STRIP and line.visible and line.points.shape == (8, 3)
    np.testing.assert_array_equal(line.points, targets[:, [3, 2, 1]])
    assert out[NS_HUMAN].kind == KIND_SPHERE and not out[NS_HUMAN].visible


def test_human_tick_draws_the_human_target_at_the_command():
    markers = InterventionMarkers(JOINTS, PositionProjection(("slide_x", "slide_y", "slide_z")))
    out = by_namespace(markers.build(arb.SOURCE_HUMAN, 1, arb.REASON_BUTTON, COMMAND, None, None))
    sphere = out[NS_HUMAN]
    assert sphere.visible and sphere.color == SOURCE_COLORS[arb.SOURCE_HUMAN]
    np.testing.assert_allclose(sphere.points, [[0.1, 0.2, 0.3]])
    assert not out[NS_CHUNK].visible  # no chunk yet
    assert out[NS_CONTROL].text == "HUMAN  #1"


def test_without_position_joints_only_the_text_is_drawn_at_the_origin():
    markers = InterventionMarkers(JOINTS, None, text_height=0.15)
    out = by_namespace(markers.build(arb.SOURCE_HUMAN, 1, arb.REASON_BUTTON, COMMAND, COMMAND,
                                     (list(JOINTS), np.tile(COMMAND, 4))))
    np.testing.assert_allclose(out[NS_CONTROL].points, [[0.0, 0.0, 0.15]])
    assert out[NS_CONTROL].visible and not out[NS_CHUNK].visible and not out[NS_HUMAN].visible


def test_a_chunk_without_the_position_joints_is_not_drawn():
    markers = InterventionMarkers(JOINTS, PositionProjection(("slide_x", "slide_y", "slide_z")))
    out = by_namespace(markers.build(arb.SOURCE_POLICY, 0, arb.REASON_NONE, COMMAND, COMMAND,
                                     (["f0", "f1"], np.zeros(10))))
    assert not out[NS_CHUNK].visible
