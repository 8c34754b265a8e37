import math

import pytest

from dexpie_common.parameters import (
    Finite, InRange, NonEmpty, OneOf, Parameter, ParameterError, ParameterSchema, Positive,
    Unique, equal_lengths)

SCHEMA = ParameterSchema("demo_node", (
    Parameter("rate_hz", float, 30.0, "control tick rate", (InRange(1.0, 1000.0),)),
    Parameter("mode", str, "async", "execution mode", (OneOf(("async", "sync")),)),
    Parameter("joint_names", list[str], ["a", "b"], "joint order", (NonEmpty(), Unique())),
    Parameter("lower", list[float], [-1.0, -1.0], "lower limits", (Finite(),)),
    Parameter("timeout", float, 0.1, "watchdog", (Positive(),), dynamic=True),
    Parameter("record", bool, True, "record episodes"),
    Parameter("count", int, 3, "a count", (InRange(1, 10),)),
), checks=(equal_lengths("joint_names", "lower"),))


def test_defaults_validate_and_read_as_attributes():
    values = SCHEMA.validate()
    assert values.rate_hz == 30.0 and values["mode"] == "async" and values.joint_names == ["a", "b"]
    assert dict(values) == SCHEMA.defaults()


def test_int_is_widened_to_float_and_tuple_to_list():
    values = SCHEMA.validate({"rate_hz": 50, "lower": (0, 1)})
    assert values.rate_hz == 50.0 and isinstance(values.rate_hz, float)
    assert values.lower == [0.0, 1.0]


@pytest.mark.parametrize("name, value, fragment", [
    ("rate_hz", 0.5, "0.5 is outside [1.0, 1000.0]"),
    ("rate_hz", math.nan, "nan is NaN"),
    ("rate_hz", "fast", "must be float, got 'fast'"),
    ("mode", "turbo", "'turbo' is not one of ['async', 'sync']"),
    ("joint_names", [], "is empty"),
    ("joint_names", ["a", "a"], "'a' appears twice"),
    ("lower", [0.0, math.inf], "inf is not finite"),
    ("timeout", 0.0, "0.0 is outside (0.0, inf]"),
    ("record", 1, "must be bool, got 1"),
    ("count", True, "must be int, got True"),
    ("count", 2.5, "must be int, got 2.5"),
])
def test_bad_values_are_rejected_naming_parameter_and_value(name, value, fragment):
    with pytest.raises(ParameterError) as error:
        SCHEMA.validate({name: value})
    assert f"'{name}'" in str(error.value) and "demo_node" in str(error.value)
    assert fragment in str(error.value)


def test_unknown_parameter_and_cross_check():
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['rate'\]"):
        SCHEMA.validate({"rate": 3.0})
    with pytest.raises(ParameterError, match="equal lengths"):
        SCHEMA.validate({"joint_names": ["a", "b", "c"]})


def test_schema_rejects_bad_declarations():
    with pytest.raises(ValueError, match="description"):
        Parameter("x", float, 1.0, " ")
    with pytest.raises(ValueError, match="default of parameter x is invalid"):
        Parameter("x", float, -1.0, "a positive", (Positive(),))
    with pytest.raises(TypeError, match="unsupported type"):
        Parameter("x", dict, {}, "a dict")
    with pytest.raises(ValueError, match="declared twice"):
        ParameterSchema("n", (Parameter("x", int, 1, "x"), Parameter("x", int, 2, "x")))


def test_yaml_round_trip_and_node_sections(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(SCHEMA.default_yaml())
    assert dict(SCHEMA.load_yaml(path)) == SCHEMA.defaults()
    path.write_text("/**:\n  ros__parameters: {rate_hz: 10.0, mode: sync}\n"
                    "demo_node:\n  ros__parameters: {rate_hz: 20.0}\n"
                    "other_node:\n  ros__parameters: {nonsense: 1}\n")
    values = SCHEMA.load_yaml(path)
    assert values.rate_hz == 20.0 and values.mode == "sync"
    path.write_text("demo_node:\n  rate_hz: 3\n")
    with pytest.raises(ParameterError, match="ros__parameters"):
        SCHEMA.load_yaml(path)
    path.write_text("demo_node: [unclosed\n")
    with pytest.raises(ParameterError, match="cannot read parameter file"):
        SCHEMA.load_yaml(path)


def test_markdown_table_lists_every_parameter():
    table = SCHEMA.markdown_table()
    for p in SCHEMA.parameters:
        assert f"`{p.name}`" in table and p.description in table
