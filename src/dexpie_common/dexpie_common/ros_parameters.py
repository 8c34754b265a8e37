"""Declare a `ParameterSchema` on an rclpy node (the ROS edge of `parameters.py`).

Every parameter is declared with its type, default, description and read-only flag (a
static parameter cannot be changed while the node runs; `ros2 param describe` shows the
description and the validation rules). The values given by `--ros-args -p` or
`--params-file` are validated at start-up: a bad value stops the node with a message naming
the parameter and the value. Dynamic parameters are validated again on every set request,
and a bad one is refused (the old value stays).

What a node was given is read where rclpy keeps it: `Node._parameter_overrides`, the
parameters of the `--params-file` sections that match the node (its name and `/**`) and of
`--ros-args -p`, already resolved by rcl the way `declare_parameter` resolves them (no second
parser of the command line or the file that could disagree with it; there is no public API).
From it:
- a value of the wrong type (`rate_hz: fast`) is a ParameterError naming the node, parameter
  and value, not rclpy's exception; an integer for a float (`rate_hz: 30`) is taken as 30.0;
- `check_parameter_overrides(node)`, once the node is built (`node_main.run_node`), refuses a
  name the node did not declare (`watchdog_timout`), with the nearest known names. The
  `/**` section's `hand:` block reaches every node; its valid entries (`hand.<field>`,
  `hand.groups.<group>.<field>`) are allowed on nodes that do not read the hand, a misspelt
  one is refused on all.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable

from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter as RosParameter

from dexpie_common.parameters import (ParameterError, ParameterSchema, ParameterValues, coerce,
                                      type_name)

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
        given[p.name] = _declare(node, p.name, p.type, p.default, descriptor,
                                 f"{schema.node}: parameter '{p.name}'")
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


_ARRAY_TYPES = {
    "list[bool]": RosParameter.Type.BOOL_ARRAY,
    "list[int]": RosParameter.Type.INTEGER_ARRAY,
    "list[float]": RosParameter.Type.DOUBLE_ARRAY,
    "list[str]": RosParameter.Type.STRING_ARRAY,
}
_KINDS = {RosParameter.Type.STRING: str, RosParameter.Type.DOUBLE: float,
          RosParameter.Type.INTEGER: int, RosParameter.Type.BOOL: bool,
          RosParameter.Type.STRING_ARRAY: list[str], RosParameter.Type.DOUBLE_ARRAY: list[float],
          RosParameter.Type.INTEGER_ARRAY: list[int], RosParameter.Type.BOOL_ARRAY: list[bool]}


def parameter_overrides(node: Node) -> dict[str, Any]:
    """name -> value of what the node was given (params file sections that match it, `-p`);
    see the module docstring for why rclpy's own `_parameter_overrides`."""
    overrides = getattr(node, "_parameter_overrides", None)
    if not isinstance(overrides, dict):
        raise RuntimeError("rclpy.node.Node no longer keeps _parameter_overrides: "
                           "dexpie_common.ros_parameters must read the overrides another way")
    return {name: parameter.value for name, parameter in overrides.items()}


def _declare(node: Node, name: str, kind, default, descriptor: ParameterDescriptor, where: str):
    """Declare `name` with its type fixed; returns the value given (checked and converted to
    `kind`, an int for a float made a float) or `default`. A value of another type is a
    ParameterError naming it, where rclpy would raise InvalidParameterTypeException."""
    overrides = parameter_overrides(node)
    value = default
    if name in overrides and overrides[name] is not None:
        value = coerce(kind, overrides[name], where)   # ParameterError: names value and type
    if isinstance(value, list) and not value:
        # An empty list has no element type in rclpy: declare by type (value not set).
        node.declare_parameter(name, _ARRAY_TYPES[type_name(kind)], descriptor, ignore_override=True)
    else:
        node.declare_parameter(name, value, descriptor, ignore_override=True)
    try:
        declared = node.get_parameter(name).value
    except ParameterUninitializedException:
        declared = None
    return value if declared is None else declared


def _hand_entries(overrides: dict[str, Any]) -> set[str]:
    """The names a valid `hand:` block gives (its groups: those of hand.group_names)."""
    names = {f"hand.{field}" for field, *_ in _HAND_FIELDS}
    groups = overrides.get("hand.group_names")
    for group in groups if isinstance(groups, (list, tuple)) else ():
        names |= {f"hand.groups.{group}.{field}" for field, *_ in _HAND_GROUP_FIELDS}
    return names


def check_parameter_overrides(node: Node) -> None:
    """Refuse, naming them, the parameters given to `node` that it did not declare (a typo in
    the params file or a `-p`), except the valid entries of the shared `hand:` block."""
    overrides = parameter_overrides(node)
    hand = _hand_entries(overrides)
    unknown = sorted(name for name in overrides if not node.has_parameter(name) and name not in hand)
    if not unknown:
        return
    known = sorted(node.list_parameters([], 0).names)   # depth 0: every declared name
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known + sorted(hand), n=1, cutoff=0.75)
        hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    own = [name for name in known if not name.startswith("hand.")
           and name not in ("use_sim_time", "start_type_description_service")]
    raise ParameterError(f"node {node.get_name()}: unknown parameter(s) {', '.join(hints)} in its "
                         f"parameters file or -p; it has {own}")


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
        return _declare(node, name, _KINDS[kind], default, descriptor,
                        f"node {node.get_name()}: parameter '{name}'")

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
