"""The shared config base: to_dict, strict from_dict, keys added later, field type checks."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from dexpie_common.stored_config import (StoredConfig, check_config_keys, check_field_types,
                                         config_to_dict)


class TinyConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TinyConfig(StoredConfig, error=TinyConfigError, keys_added_later={"scale": 1000.0}):
    width: int
    names: tuple[str, ...] = ()
    scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        if self.width < 1:
            raise TinyConfigError(f"width must be positive, got {self.width}")


def test_round_trip_through_json_gives_the_same_config():
    config = TinyConfig(width=3, names=("a", "b"), scale=2.0)
    data = config.to_dict()
    assert data == {"width": 3, "names": ["a", "b"], "scale": 2.0}
    assert TinyConfig.from_dict(json.loads(json.dumps(data))) == config


def test_unknown_and_missing_keys_are_named_in_the_class_error():
    with pytest.raises(TinyConfigError, match=r"unknown config keys: \['depth'\]"):
        TinyConfig.from_dict({"width": 3, "names": [], "scale": 1.0, "depth": 2})
    with pytest.raises(TinyConfigError, match=r"missing config keys: \['names'\]"):
        TinyConfig.from_dict({"width": 3, "scale": 1.0})
    assert TinyConfig.from_dict({"width": 3}, require_all=False).names == ()
    with pytest.raises(TinyConfigError, match=r"missing config keys: \['width'\]"):
        TinyConfig.from_dict({}, require_all=False)
    with pytest.raises(TinyConfigError, match="config must be a mapping, got list"):
        TinyConfig.from_dict([1, 2])


def test_a_key_added_later_gets_the_value_older_configs_were_written_with():
    assert TinyConfig.from_dict({"width": 3, "names": []}).scale == 1000.0   # not the default 1.0
    assert TinyConfig.from_dict({"width": 3, "names": [], "scale": 2.0}).scale == 2.0


def test_construction_errors_come_out_as_the_class_error():
    with pytest.raises(TinyConfigError, match="width must be positive"):
        TinyConfig.from_dict({"width": 0, "names": [], "scale": 1.0})
    with pytest.raises(TinyConfigError, match="not iterable"):   # tuple(5)
        TinyConfig.from_dict({"width": 1, "names": 5, "scale": 1.0})


def test_each_subclass_keeps_its_own_error_and_added_keys():
    @dataclass(frozen=True)
    class Other(StoredConfig, error=KeyError):
        size: int = 1
    assert Other.config_error is KeyError and Other.keys_added_later == {}
    assert TinyConfig.config_error is TinyConfigError
    assert StoredConfig.config_error is ValueError


@dataclass(frozen=True)
class Typed:
    count: int = 1
    rate: float = 0.5
    flag: bool = False
    label: str = ""
    names: tuple[str, ...] = ()

    def __post_init__(self):
        check_field_types(self, TinyConfigError)


def test_field_types_are_checked_and_json_forms_converted():
    typed = Typed(count=2, rate=1, names=["a"])
    assert typed.rate == 1.0 and isinstance(typed.rate, float) and typed.names == ("a",)
    for field, value in [("count", True), ("count", 1.5), ("rate", float("nan")), ("flag", 1),
                         ("label", 3), ("names", ["a", 1]), ("names", "ab")]:
        with pytest.raises(TinyConfigError, match=f"{field} must be of type"):
            Typed(**{field: value})


def test_an_annotation_the_type_check_does_not_know_is_a_programming_error():
    @dataclass(frozen=True)
    class Odd:
        size: tuple[int, int] = (1, 2)
    with pytest.raises(TypeError, match="does not know the annotation"):
        check_field_types(Odd(), TinyConfigError)


def test_helpers_directly():
    assert config_to_dict(Typed(names=("x",))) == {"count": 1, "rate": 0.5, "flag": False,
                                                   "label": "", "names": ["x"]}
    with pytest.raises(KeyError, match="unknown config keys"):
        check_config_keys(Typed, {"size": 1}, True, KeyError)
