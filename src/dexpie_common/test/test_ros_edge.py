"""The ROS edge: a schema declared on a real rclpy node; message conversions."""
import numpy as np
import pytest
import rclpy
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter as RosParameter

from dexpie_common.messages import (
    MissingJoints, image_array, image_msg, joint_state_msg, positions_by_name, seconds_to_stamp,
    stamp_to_seconds)
from dexpie_common.parameters import InRange, NonEmpty, Parameter, ParameterError, ParameterSchema
from dexpie_common.ros_parameters import declare_parameters

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
