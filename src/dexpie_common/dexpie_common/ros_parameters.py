"""Declare a `ParameterSchema` on an rclpy node (the ROS edge of `parameters.py`).

Every parameter is declared with its type, default, description and read-only flag (a
static parameter cannot be changed while the node runs; `ros2 param describe` shows the
description and the validation rules). The values given by `--ros-args -p` or
`--params-file` are validated at start-up: a bad value stops the node with a message naming
the parameter and the value. Dynamic parameters are validated again on every set request,
and a bad one is refused (the old value stays).
"""
from __future__ import annotations

from typing import Callable

from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter as RosParameter

from dexpie_common.parameters import ParameterError, ParameterSchema, ParameterValues, type_name

_ROS_TYPES = {
    "bool": ParameterType.PARAMETER_BOOL,
    "int": ParameterType.PARAMETER_INTEGER,
    "float": ParameterType.PARAMETER_DOUBLE,
    "str": ParameterType.PARAMETER_STRING,
    "list[bool]": ParameterType.PARAMETER_BOOL_ARRAY,
    "list[int]": ParameterType.PARAMETER_INTEGER_ARRAY,
    "list[float]": ParameterType.PARAMETER_DOUBLE_ARRAY,
    "list[str]": ParameterType.PARAMETER_STRING_ARRAY,
}


def declare_parameters(node: Node, schema: ParameterSchema,
                       on_change: Callable[[ParameterValues], None] | None = None) -> ParameterValues:
    """Declare every parameter of `schema` on `node` and return the validated values.

    Raises ParameterError (naming parameter and value) when a given value is invalid.
    on_change: called with the new validated values after an accepted dynamic update.
    """
    given = {}
    for p in schema.parameters:
        rules = "; ".join(rule.describe() for rule in p.validators)
        descriptor = ParameterDescriptor(
            name=p.name, type=_ROS_TYPES[type_name(p.type)], description=p.description,
            additional_constraints=rules, read_only=not p.dynamic,
            # An empty list default has no element type in rclpy: declare by type instead.
            dynamic_typing=False)
        if isinstance(p.default, list) and not p.default:
            node.declare_parameter(p.name, _empty_array_type(p), descriptor)
        else:
            node.declare_parameter(p.name, p.default, descriptor)
        try:
            value = node.get_parameter(p.name).value
        except ParameterUninitializedException:
            value = None
        given[p.name] = p.default if value is None else value
    values = schema.validate(given)
    current = {"values": values}

    def on_set(changes) -> SetParametersResult:
        proposed = dict(current["values"])
        for change in changes:
            parameter = schema.by_name.get(change.name)
            if parameter is None:
                return SetParametersResult(successful=False, reason=f"unknown parameter {change.name}")
            if not parameter.dynamic:
                return SetParametersResult(successful=False,
                                           reason=f"parameter {change.name} is read-only while running")
            proposed[change.name] = change.value
        try:
            validated = schema.validate(proposed)
        except ParameterError as error:
            return SetParametersResult(successful=False, reason=str(error))
        current["values"] = validated
        if on_change is not None:
            on_change(validated)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values


def _empty_array_type(p) -> RosParameter.Type:
    return {
        "list[bool]": RosParameter.Type.BOOL_ARRAY,
        "list[int]": RosParameter.Type.INTEGER_ARRAY,
        "list[float]": RosParameter.Type.DOUBLE_ARRAY,
        "list[str]": RosParameter.Type.STRING_ARRAY,
    }[type_name(p.type)]


# The hand description's fields as ROS 2 parameters (`hand.<field>`), see dexpie_common.hand.
_HAND_FIELDS = (
    ("name", RosParameter.Type.STRING, "", "the hand's name"),
    ("joint_names", RosParameter.Type.STRING_ARRAY, [], "joints in observation / command order"),
    ("lower_limits", RosParameter.Type.DOUBLE_ARRAY, [], "lower position limit per joint [rad or m]"),
    ("upper_limits", RosParameter.Type.DOUBLE_ARRAY, [], "upper position limit per joint [rad or m]"),
    ("max_velocity", RosParameter.Type.DOUBLE_ARRAY, [], "speed limit per joint [rad/s or m/s]"),
    ("control_rate_hz", RosParameter.Type.DOUBLE, 30.0, "control tick rate [Hz]"),
    ("max_episode_steps", RosParameter.Type.INTEGER, 0, "episode step limit L (the critic's)"),
    ("object_names", RosParameter.Type.STRING_ARRAY, [], "object-state entries (simulation)"),
    ("cameras", RosParameter.Type.STRING_ARRAY, [], "camera names"),
    ("group_names", RosParameter.Type.STRING_ARRAY, [], "joint groups, in order; each has "
     "hand.groups.<name>.joints / device / representation / kinematics"),
)
_HAND_GROUP_FIELDS = (
    ("joints", RosParameter.Type.STRING_ARRAY, []),
    ("device", RosParameter.Type.STRING, ""),
    ("representation", RosParameter.Type.STRING, ""),
    ("kinematics", RosParameter.Type.STRING, ""),
)


def declare_hand(node: Node, required: bool = True):
    """Declare the `hand.*` parameters (read-only) and return the validated HandDescription.

    The graph's parameters file holds them once under `/**: ros__parameters: hand:` (see
    config/robot_template.yaml). Groups are declared after `hand.group_names` is read, since
    their names are the user's. Raises ParameterError naming the parameter when the hand is
    missing (with `required`) or invalid; returns None when it is absent and not required.
    """
    from dexpie_common.hand import HandDescription, HandDescriptionError

    def declare(name, kind, default, description=""):
        descriptor = ParameterDescriptor(name=name, description=description, read_only=True,
                                         type=kind.value, dynamic_typing=False)
        if isinstance(default, list) and not default:
            node.declare_parameter(name, kind, descriptor)
        else:
            node.declare_parameter(name, default, descriptor)
        try:
            value = node.get_parameter(name).value
        except ParameterUninitializedException:
            value = None
        return default if value is None else value

    values = {f"hand.{name}": declare(f"hand.{name}", kind, default, text)
              for name, kind, default, text in _HAND_FIELDS}
    if not values["hand.joint_names"]:
        if required:
            raise ParameterError(f"node {node.get_name()}: parameter 'hand.joint_names' is empty: "
                                 "the hand description is required (a 'hand:' block under "
                                 "'/**: ros__parameters:' in the parameters file, see "
                                 "config/robot_template.yaml)")
        return None
    for group in values["hand.group_names"]:
        for name, kind, default in _HAND_GROUP_FIELDS:
            key = f"hand.groups.{group}.{name}"
            values[key] = declare(key, kind, default)
    try:
        return HandDescription.from_parameters(values)
    except HandDescriptionError as error:
        raise ParameterError(f"node {node.get_name()}: {error}") from None
