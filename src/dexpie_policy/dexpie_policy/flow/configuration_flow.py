"""Configuration of the chunked flow-matching policy (frozen, validated at construction)."""
from __future__ import annotations

from dataclasses import dataclass

from dexpie_common.stored_config import StoredConfig

POLICY_TYPE = "dexpie_flow"

STATE_KEY = "observation.state"
OBJECT_KEY = "observation.object"
IMAGE_KEY_PREFIX = "observation.images."
ACTION_KEY = "action"


class ConfigError(ValueError):
    """A configuration value or a serialized configuration that is not valid."""


# FlowPolicyConfig fields added after checkpoints of format 1 were first written, with the
# behaviour those older checkpoints have (a stored config without the key gets this value,
# whatever the current default).
ADDED_AFTER_FORMAT_1 = {"optimality_embedding_scale": 1000.0}


@dataclass(frozen=True)
class FlowPolicyConfig(StoredConfig, error=ConfigError, keys_added_later=ADDED_AFTER_FORMAT_1):
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
