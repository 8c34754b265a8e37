"""Node parameters declared once: type, default, description and validation (pure, no ROS).

In the spirit of PickNikRobotics/generate_parameter_library, but as plain Python data so
that the schema is importable without rclpy and testable on its own:

    HAND_CONTROLLER = ParameterSchema("hand_controller", (
        Parameter("rate_hz", float, 30.0, "control tick rate", (InRange(1.0, 1000.0),)),
        Parameter("joint_names", list[str], [], "controller joint order", (NonEmpty(), Unique())),
    ))
    values = HAND_CONTROLLER.validate({"rate_hz": 50.0, "joint_names": ["a", "b"]})
    values.rate_hz  # 50.0

A bad value is rejected with a `ParameterError` naming the node, the parameter and the
value. Cross-parameter rules (e.g. two lists of equal length) are `checks` on the schema.
The schema also reads the ROS 2 parameter YAML format (`<node>: {ros__parameters: {...}}`,
`/**` for every node) and writes a documented default file and a markdown table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import yaml

# The parameter types a ROS 2 parameter can hold (rcl_interfaces/ParameterType).
SUPPORTED_TYPES = (bool, int, float, str, list[bool], list[int], list[float], list[str])


class ParameterError(ValueError):
    """A parameter value or file was rejected; the message names what and why."""


def type_name(kind) -> str:
    return getattr(kind, "__name__", None) if not hasattr(kind, "__args__") else f"list[{kind.__args__[0].__name__}]"


def coerce(kind, value, where: str):
    """Convert `value` to `kind` where that loses nothing (int -> float, tuple -> list), else raise."""
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif hasattr(kind, "__args__"):
        element = kind.__args__[0]
        if isinstance(value, (list, tuple)):
            return [coerce(element, item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ParameterError(f"{where} must be {type_name(kind)}, got {value!r} ({type(value).__name__})")


# ---- validators: small frozen rules with a message naming the value ---------------------
@dataclass(frozen=True)
class InRange:
    """lo <= value <= hi (or strict with `*_inclusive=False`); applies to every list element."""
    lo: float = -math.inf
    hi: float = math.inf
    lo_inclusive: bool = True
    hi_inclusive: bool = True

    def __call__(self, value) -> str | None:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, float) and math.isnan(item):
                return f"{item!r} is NaN"
            below = item < self.lo if self.lo_inclusive else item <= self.lo
            above = item > self.hi if self.hi_inclusive else item >= self.hi
            if below or above:
                return f"{item!r} is outside {self.describe()}"
        return None

    def describe(self) -> str:
        return f"{'[' if self.lo_inclusive else '('}{self.lo}, {self.hi}{']' if self.hi_inclusive else ')'}"


def Positive() -> InRange:
    return InRange(0.0, math.inf, lo_inclusive=False)


@dataclass(frozen=True)
class Finite:
    """No NaN or infinity (every list element)."""

    def __call__(self, value) -> str | None:
        for item in value if isinstance(value, list) else [value]:
            if not math.isfinite(item):
                return f"{item!r} is not finite"
        return None

    def describe(self) -> str:
        return "finite"


@dataclass(frozen=True)
class OneOf:
    choices: tuple

    def __call__(self, value) -> str | None:
        for item in value if isinstance(value, list) else [value]:
            if item not in self.choices:
                return f"{item!r} is not one of {list(self.choices)}"
        return None

    def describe(self) -> str:
        return f"one of {list(self.choices)}"


@dataclass(frozen=True)
class NonEmpty:
    def __call__(self, value) -> str | None:
        return "is empty" if len(value) == 0 else None

    def describe(self) -> str:
        return "non-empty"


@dataclass(frozen=True)
class Unique:
    def __call__(self, value) -> str | None:
        seen = set()
        for item in value:
            if item in seen:
                return f"{item!r} appears twice"
            seen.add(item)
        return None

    def describe(self) -> str:
        return "no duplicates"


@dataclass(frozen=True)
class Parameter:
    """One node parameter. `dynamic`: may be changed while the node runs (validated again)."""
    name: str
    type: Any
    default: Any
    description: str
    validators: tuple = ()
    dynamic: bool = False

    def __post_init__(self):
        if self.type not in SUPPORTED_TYPES:
            raise TypeError(f"parameter {self.name}: unsupported type {self.type!r}")
        if not self.description.strip():
            raise ValueError(f"parameter {self.name} needs a description")
        object.__setattr__(self, "default", coerce(self.type, self.default, f"default of {self.name}"))
        for rule in self.validators:
            problem = rule(self.default) if not (isinstance(self.default, list) and not self.default
                                                 and isinstance(rule, NonEmpty)) else None
            if problem:
                raise ValueError(f"default of parameter {self.name} is invalid: {problem}")

    def check(self, value, node: str):
        where = f"{node}: parameter '{self.name}'"
        value = coerce(self.type, value, where)
        for rule in self.validators:
            problem = rule(value)
            if problem:
                raise ParameterError(f"{where} = {value!r} rejected: {problem} "
                                     f"(expected {rule.describe()}; {self.description})")
        return value


class ParameterValues(Mapping):
    """Validated values, readable as attributes (`values.rate_hz`) and as a mapping."""

    def __init__(self, values: dict):
        self._values = MappingProxyType(dict(values))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name):
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        return f"ParameterValues({dict(self._values)!r})"


@dataclass(frozen=True)
class ParameterSchema:
    """Every parameter of one node. checks: callables (values) -> problem str or None."""
    node: str
    parameters: tuple
    checks: tuple = field(default=())

    def __post_init__(self):
        names = [p.name for p in self.parameters]
        duplicated = {n for n in names if names.count(n) > 1}
        if duplicated:
            raise ValueError(f"{self.node}: parameters declared twice: {sorted(duplicated)}")

    @property
    def by_name(self) -> dict:
        return {p.name: p for p in self.parameters}

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.parameters}

    def validate(self, overrides: Mapping[str, Any] | None = None) -> ParameterValues:
        """Defaults overlaid with `overrides`, each checked; unknown names are errors."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.by_name))
        if unknown:
            raise ParameterError(f"{self.node}: unknown parameter(s) {unknown}; "
                                 f"known: {sorted(self.by_name)}")
        values = {p.name: p.check(overrides.get(p.name, p.default), self.node) for p in self.parameters}
        self.check_all(values)
        return ParameterValues(values)

    def check_all(self, values: Mapping[str, Any]) -> None:
        for check in self.checks:
            problem = check(values)
            if problem:
                raise ParameterError(f"{self.node}: {problem}")

    # ---- ROS 2 parameter files ------------------------------------------------------------
    def overrides_from_yaml(self, path: str | Path) -> dict:
        """This node's entries from a ROS 2 parameter file (its name, or `/**`, merged). The
        `hand:` block (under `/**`) is the hand description's, validated by
        `dexpie_common.hand.load_hand_file`, not a parameter of this schema."""
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ParameterError(f"{self.node}: cannot read parameter file {path}: {error}") from error
        if not isinstance(document, dict):
            raise ParameterError(f"{path}: expected a mapping of node names, got {type(document).__name__}")
        merged = {}
        for key in ("/**", self.node, "/" + self.node):
            section = document.get(key)
            if section is None:
                continue
            if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
                raise ParameterError(f"{path}: section '{key}' needs a 'ros__parameters' mapping")
            merged.update({name: value for name, value in section["ros__parameters"].items()
                           if not (key == "/**" and name == "hand")})
        return merged

    def load_yaml(self, path: str | Path) -> ParameterValues:
        return self.validate(self.overrides_from_yaml(path))

    def default_yaml(self) -> str:
        """A parameter file with every default, each preceded by its description."""
        lines = [f"{self.node}:", "  ros__parameters:"]
        for p in self.parameters:
            rules = ", ".join(rule.describe() for rule in p.validators)
            lines.append(f"    # {p.description} ({type_name(p.type)}{'; ' + rules if rules else ''})")
            lines.append("    " + yaml.safe_dump({p.name: p.default}, default_flow_style=True,
                                                 width=1000).strip().strip("{}"))
        return "\n".join(lines) + "\n"

    def markdown_table(self) -> str:
        rows = ["| parameter | type | default | validation | description |", "|---|---|---|---|---|"]
        for p in self.parameters:
            rules = ", ".join(rule.describe() for rule in p.validators) or "—"
            rows.append(f"| `{p.name}` | {type_name(p.type)} | `{p.default!r}` | {rules} | {p.description} |")
        return "\n".join(rows)


def equal_lengths(*names: str) -> Callable[[Mapping], str | None]:
    """A schema check: the named list parameters have the same length."""
    def check(values):
        lengths = {name: len(values[name]) for name in names}
        if len(set(lengths.values())) > 1:
            return f"parameters {list(names)} must have equal lengths, got {lengths}"
        return None
    return check

