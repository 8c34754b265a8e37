"""Frozen dataclass configurations kept as JSON: to_dict, a strict from_dict and type checks,
written once for the policy's and the critic's model configs (checkpoint `config.json`) and
the training configs.

Here, not in dexpie_policy: it is plain Python (no torch), and the training configs and
anything else that stores a config can use it without the model packages.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any


def config_to_dict(config) -> dict:
    """JSON-ready dict of a config dataclass (tuple fields as lists)."""
    return {name: list(value) if isinstance(value, tuple) else value
            for name, value in dataclasses.asdict(config).items()}


def check_config_keys(cls, data, require_all: bool, error: type[Exception]) -> None:
    """The strict key check of a config dataclass's `from_dict`: `data` is a mapping with no
    unknown keys and every field (`require_all`) or every field without a default; raises
    `error` naming the keys."""
    if not isinstance(data, dict):
        raise error(f"config must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise error(f"unknown config keys: {unknown}")
    required = [n for n, f in fields.items()
                if require_all or (f.default is dataclasses.MISSING
                                   and f.default_factory is dataclasses.MISSING)]
    missing = sorted(n for n in required if n not in data)
    if missing:
        raise error(f"missing config keys: {missing}")


def check_field_types(config, error: type[Exception]) -> None:
    """Check every field of a config dataclass against its annotation (int, float, bool,
    str, tuple[str, ...]); ints are accepted for floats and lists for tuples (YAML/JSON give
    them) and stored converted. Raises `error` naming the field."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value, kind = getattr(config, field.name), hints[field.name]
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is float:
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and math.isfinite(value))
            if ok:
                object.__setattr__(config, field.name, float(value))
        elif kind is str:
            ok = isinstance(value, str)
        elif kind == tuple[str, ...]:
            ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
            if ok:
                object.__setattr__(config, field.name, tuple(value))
        else:
            raise TypeError(f"{type(config).__name__}.{field.name}: check_field_types does not "
                            f"know the annotation {kind!r}")
        if not ok:
            type_name = getattr(kind, "__name__", str(kind))
            raise error(f"{field.name} must be of type {type_name}, got {value!r}")


class StoredConfig:
    """Base of a frozen config dataclass that a checkpoint stores as JSON.

        @dataclass(frozen=True)
        class MyConfig(StoredConfig, error=MyConfigError, keys_added_later={"scale": 1.0}):
            ...

    error: the class raised for a bad serialized config (the dataclass's own validation
    raises it too). keys_added_later: fields added after checkpoints were first written, each
    with the value those older checkpoints were trained with (not the current default, which
    may change): a stored config that lacks one gets that value.
    """
    config_error: type[Exception] = ValueError
    keys_added_later: dict[str, Any] = {}

    def __init_subclass__(cls, *, error: type[Exception] | None = None,
                          keys_added_later: dict[str, Any] | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if error is not None:
            cls.config_error = error
        if keys_added_later is not None:
            cls.keys_added_later = dict(keys_added_later)

    def to_dict(self) -> dict:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict, require_all: bool = True):
        """Strict: unknown keys and missing keys are named in the error. A checkpoint stores
        every field (`require_all`), so a default that changes later cannot silently change a
        stored model; hand-written configs may pass require_all=False to use defaults."""
        if isinstance(data, dict):
            data = {**{k: v for k, v in cls.keys_added_later.items() if k not in data}, **data}
        check_config_keys(cls, data, require_all, cls.config_error)
        try:
            return cls(**data)
        except TypeError as error:   # e.g. camera_names given as a number
            raise cls.config_error(str(error)) from None
