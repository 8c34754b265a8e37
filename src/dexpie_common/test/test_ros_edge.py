"""The ROS edge: a schema declared on a real rclpy node; message conversions."""
import textwrap

import numpy as np
import pytest
import rclpy
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter as RosParameter

from dexpie_common.messages import (
    MissingJoints, image_array, image_msg, joint_state_msg, positions_by_name, seconds_to_stamp,
    stamp_to_seconds)
from dexpie_common.parameters import InRange, NonEmpty, Parameter, ParameterError, ParameterSchema
from dexpie_common.ros_parameters import check_parameter_overrides, declare_hand, declare_parameters

SCHEMA = ParameterSchema("edge_test", (
    Parameter("rate_hz", float, 30.0, "tick rate", (InRange(1.0, 100.0),)),
    Parameter("joint_names", list[str], [], "joint order (required)", (NonEmpty(),)),
    Parameter("gain", float, 1.0, "a live-tunable gain", (InRange(0.0, 2.0),), dynamic=True),
))


def make_node(context, overrides):
    return rclpy.create_node("edge_test", context=context,
                             parameter_overrides=[RosParameter(k, value=v) for k, v in overrides.items()],
                             automatically_declare_parameters_from_overrides=False)


def test_declared_values_descriptors_and_dynamic_validation(context):
    node = make_node(context, {"rate_hz": 50.0, "joint_names": ["j1", "j2"]})
    changes = []
    values = declare_parameters(node, SCHEMA, on_change=changes.append)
    assert values.rate_hz == 50.0 and values.joint_names == ["j1", "j2"] and values.gain == 1.0
    descriptor = node.describe_parameter("rate_hz")
    assert descriptor.description == "tick rate" and descriptor.read_only
    assert descriptor.type == ParameterType.PARAMETER_DOUBLE and "[1.0, 100.0]" in descriptor.additional_constraints
    assert not node.set_parameters([RosParameter("gain", value=5.0)])[0].successful
    assert node.get_parameter("gain").value == 1.0
    assert node.set_parameters([RosParameter("gain", value=1.5)])[0].successful
    assert changes[-1].gain == 1.5
    assert not node.set_parameters([RosParameter("rate_hz", value=40.0)])[0].successful
    node.destroy_node()


def test_bad_or_missing_values_stop_the_node_naming_them(context):
    node = make_node(context, {"rate_hz": 500.0, "joint_names": ["j"]})
    with pytest.raises(ParameterError, match=r"'rate_hz' = 500.0 rejected"):
        declare_parameters(node, SCHEMA)
    node.destroy_node()
    node = make_node(context, {})
    with pytest.raises(ParameterError, match=r"'joint_names' = \[\] rejected: is empty"):
        declare_parameters(node, SCHEMA)
    node.destroy_node()


def test_joint_state_conversion_is_by_name():
    msg = joint_state_msg(["b", "a", "c"], [2.0, 1.0, 3.0], seconds_to_stamp(12.25))
    np.testing.assert_array_equal(positions_by_name(msg, ["a", "b"]), [1.0, 2.0])
    assert stamp_to_seconds(msg.header.stamp) == pytest.approx(12.25)
    with pytest.raises(MissingJoints, match="'z'"):
        positions_by_name(msg, ["a", "z"])
    msg.position = [1.0]
    with pytest.raises(ValueError, match="3 names but 1 position"):
        positions_by_name(msg, ["a"])


def test_image_message_round_trip():
    pixels = np.random.default_rng(0).integers(0, 255, size=(4, 6, 3)).astype(np.uint8)
    msg = image_msg(pixels, "bgr8", seconds_to_stamp(1.0), "cam")
    np.testing.assert_array_equal(image_array(msg), pixels)


def test_a_value_of_the_wrong_type_is_a_parameter_error_and_an_int_is_a_float(context):
    node = make_node(context, {"rate_hz": "fast", "joint_names": ["j"]})
    with pytest.raises(ParameterError, match=r"^edge_test: parameter 'rate_hz' must be float, got 'fast' \(str\)$"):
        declare_parameters(node, SCHEMA)
    node.destroy_node()
    node = make_node(context, {"rate_hz": 50, "joint_names": ["j"]})   # YAML `rate_hz: 50`
    values = declare_parameters(node, SCHEMA)
    assert values.rate_hz == 50.0 and node.get_parameter("rate_hz").value == 50.0
    node.destroy_node()


def node_from_file(tmp_path, text, name="edge_test", extra=()):
    """A context started as a launcher starts a node: --params-file (+ -p), then the node."""
    path = tmp_path / "params.yaml"
    path.write_text(text)
    context = rclpy.Context()
    rclpy.init(args=["--ros-args", "--params-file", str(path), *extra], context=context)
    return context, rclpy.create_node(name, context=context)


HAND_BLOCK = textwrap.dedent("""
    /**:
      ros__parameters:
        hand:
          name: test_hand
          joint_names: [a, b]
          group_names: [fingers]
          groups:
            fingers: {joints: [a, b], device: glove, representation: absolute_joint, kinematics: ''}
    """)


@pytest.mark.parametrize("section, extra, unknown", [
    ("edge_test:\n  ros__parameters:\n    joint_names: [j]\n    gian: 1.5\n", (),
     "'gian' (did you mean 'gain'?)"),
    ("/**:\n  ros__parameters:\n    rate_hx: 20.0\nedge_test:\n  ros__parameters:\n    joint_names: [j]\n", (),
     "'rate_hx' (did you mean 'rate_hz'?)"),
    ("edge_test:\n  ros__parameters:\n    joint_names: [j]\n", ("-p", "watchdog:=0.2"), "'watchdog'"),
])
def test_a_parameter_the_node_does_not_have_is_refused_by_name(tmp_path, section, extra, unknown):
    context, node = node_from_file(tmp_path, section, extra=extra)
    try:
        declare_parameters(node, SCHEMA)
        with pytest.raises(ParameterError) as error:
            check_parameter_overrides(node)
        assert str(error.value) == (f"node edge_test: unknown parameter(s) {unknown} in its parameters "
                                    "file or -p; it has ['gain', 'joint_names', 'rate_hz']")
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_the_shared_hand_block_is_allowed_everywhere_but_a_misspelt_entry_is_not(tmp_path):
    text = HAND_BLOCK + "edge_test:\n  ros__parameters:\n    joint_names: [j]\n"
    context, node = node_from_file(tmp_path, text)
    try:
        declare_parameters(node, SCHEMA)   # this node does not read the hand
        check_parameter_overrides(node)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
    context, node = node_from_file(tmp_path, text.replace("joint_names: [a, b]", "joint_nmes: [a, b]"))
    try:
        declare_parameters(node, SCHEMA)
        with pytest.raises(ParameterError, match=r"'hand.joint_nmes' \(did you mean 'hand.joint_names'\?\)"):
            check_parameter_overrides(node)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_a_hand_entry_of_the_wrong_type_is_a_parameter_error(tmp_path):
    context, node = node_from_file(tmp_path, HAND_BLOCK.replace("      name: test_hand\n",
                                                                "      name: test_hand\n"
                                                                "      control_rate_hz: fast\n"))
    try:
        with pytest.raises(ParameterError, match=r"^node edge_test: parameter 'hand.control_rate_hz' must be "
                                                 r"float, got 'fast' \(str\)$"):
            declare_hand(node)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
