"""Configuration of the chunked flow-matching policy (frozen, validated at construction)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

POLICY_TYPE = "dexpie_flow"

STATE_KEY = "observation.state"
OBJECT_KEY = "observation.object"
IMAGE_KEY_PREFIX = "observation.images."
ACTION_KEY = "action"


class ConfigError(ValueError):
    """A configuration value or a serialized configuration that is not valid."""


@dataclass(frozen=True)
class FlowPolicyConfig:
    """Everything needed to rebuild the network; stored as `config.json` in a checkpoint.

    horizon: H actions per chunk. action_dim: D (from the ActionSpec). state_dim: J joint
    positions. object_dim: K object-state features (0 = none). camera_names: cameras whose
    images (image_size = (height, width), RGB) are encoded by a small CNN each; empty = no
    images. optimality_conditioning: condition on the indicator s in [0, 1] (False = plain
    BC). optimality_dropout: p_drop, probability of replacing s by the learned null
    embedding in training. optimality_embedding_scale: s is multiplied by it before the
    sinusoidal embedding; at 1000 (the flow time's scale) the top frequencies turn a
    difference of 0.01 in s into unrelated features, at 1 the embedding is smooth in s (the
    DexPIE authors' choice). max_delay_steps: training samples delay d ~ U{0..max_delay_steps}
    clean prefix actions (training-time real-time chunking).
    """
    action_dim: int
    state_dim: int
    object_dim: int = 0
    horizon: int = 16
    camera_names: tuple[str, ...] = ()
    image_size: tuple[int, int] = (64, 64)
    image_channels: int = 3
    image_feature_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 3
    time_embedding_dim: int = 64
    optimality_embedding_dim: int = 64
    num_inference_steps: int = 10
    optimality_conditioning: bool = True
    optimality_dropout: float = 0.3
    max_delay_steps: int = 4
    optimality_embedding_scale: float = 1000.0

    def __post_init__(self):
        # JSON gives lists; the config must stay hashable and comparable.
        object.__setattr__(self, "camera_names", tuple(self.camera_names))
        object.__setattr__(self, "image_size", tuple(self.image_size))
        positive = ["action_dim", "state_dim", "horizon", "image_channels", "image_feature_dim",
                    "hidden_size", "num_layers", "num_inference_steps"]
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("object_dim", "max_delay_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("time_embedding_dim", "optimality_embedding_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 2 or value % 2:
                raise ConfigError(f"{name} must be an even integer >= 2 (sin/cos pairs), "
                                  f"got {value!r}")
        if self.max_delay_steps >= self.horizon:
            raise ConfigError(f"max_delay_steps ({self.max_delay_steps}) must be smaller than "
                              f"horizon ({self.horizon}): a chunk needs a step to predict")
        if not isinstance(self.optimality_dropout, (int, float)) or isinstance(
                self.optimality_dropout, bool) or not 0.0 <= self.optimality_dropout < 1.0:
            raise ConfigError(f"optimality_dropout must be in [0, 1), got "
                              f"{self.optimality_dropout!r}")
        if not isinstance(self.optimality_embedding_scale, (int, float)) or isinstance(
                self.optimality_embedding_scale, bool) or not self.optimality_embedding_scale > 0:
            raise ConfigError(f"optimality_embedding_scale must be > 0, got "
                              f"{self.optimality_embedding_scale!r}")
        if not isinstance(self.optimality_conditioning, bool):
            raise ConfigError(f"optimality_conditioning must be a bool, got "
                              f"{self.optimality_conditioning!r}")
        if len(set(self.camera_names)) != len(self.camera_names) or not all(
                isinstance(n, str) and n and n.replace("_", "").isalnum()
                for n in self.camera_names):
            raise ConfigError(f"camera_names must be unique identifiers, got {self.camera_names!r}")
        if len(self.image_size) != 2 or not all(isinstance(s, int) and 8 <= s <= 128
                                                for s in self.image_size):
            raise ConfigError(f"image_size must be (height, width) with 8 <= each <= 128 "
                              f"(a CPU policy uses tiny images), got {self.image_size!r}")

    def feature_shapes(self) -> dict[str, tuple[int, ...]]:
        """The normalised features (the keys normalisation statistics must have)."""
        shapes = {STATE_KEY: (self.state_dim,), ACTION_KEY: (self.action_dim,)}
        if self.object_dim:
            shapes[OBJECT_KEY] = (self.object_dim,)
        return shapes

    def image_keys(self) -> list[str]:
        return [IMAGE_KEY_PREFIX + name for name in self.camera_names]

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["camera_names"] = list(self.camera_names)
        data["image_size"] = list(self.image_size)
        return data

    @classmethod
    def from_dict(cls, data: dict, require_all: bool = True) -> "FlowPolicyConfig":
        """Strict: unknown keys and missing keys are named in the error. A checkpoint stores
        every field (`require_all`), so a default that changes later cannot silently change a
        stored model; hand-written configs may pass require_all=False to use defaults. A key
        of ADDED_AFTER_FORMAT_1 that a stored config lacks gets the value its model was
        trained with (the behaviour before the key existed), whatever the current default."""
        if isinstance(data, dict):
            data = {**{k: v for k, v in ADDED_AFTER_FORMAT_1.items() if k not in data}, **data}
        check_config_keys(cls, data, require_all, ConfigError)
        return cls(**data)


# FlowPolicyConfig fields added after checkpoints of format 1 were first written, with the
# behaviour those older checkpoints have.
ADDED_AFTER_FORMAT_1 = {"optimality_embedding_scale": 1000.0}


def check_config_keys(cls, data, require_all: bool, error: type[Exception]) -> None:
    """The strict key check of a config dataclass's `from_dict` (policy and critic): `data`
    is a mapping with no unknown keys and every field (`require_all`) or every field without
    a default; raises `error` naming the keys."""
    if not isinstance(data, dict):
        raise error(f"config must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise error(f"unknown config keys: {unknown}")
    required = [n for n, f in fields.items() if require_all or f.default is dataclasses.MISSING]
    missing = sorted(n for n in required if n not in data)
    if missing:
        raise error(f"missing config keys: {missing}")
