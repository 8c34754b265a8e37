"""Configuration of the distributional critic (frozen, validated at construction)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from dexpie_common.stored_config import StoredConfig
from dexpie_learning.critic.bins import DEFAULT_NUM_BINS, DEFAULT_SIGMA_BINS
from dexpie_policy.flow import IMAGE_KEY_PREFIX, OBJECT_KEY, STATE_KEY

CRITIC_TYPE = "dexpie_distributional_critic"


class CriticConfigError(ValueError):
    """A configuration value or a serialized configuration that is not valid."""


@dataclass(frozen=True)
class CriticConfig(StoredConfig, error=CriticConfigError):
    """Everything needed to rebuild the critic network; stored as `config.json`.

    state_dim: J joint positions. object_dim: K object-state features (0 = none).
    camera_names: cameras whose images (image_size = (height, width), RGB) are encoded by
    the policy's small CNN each; empty = no images. hidden_size, num_layers: the MLP on the
    encoded observation (num_layers hidden layers). num_bins: K bins of the value support
    [-1, 0]. target_sigma_bins: the target smoothing sigma in bins.
    """
    state_dim: int
    object_dim: int = 0
    camera_names: tuple[str, ...] = ()
    image_size: tuple[int, int] = (64, 64)
    image_channels: int = 3
    image_feature_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 3
    num_bins: int = DEFAULT_NUM_BINS
    target_sigma_bins: float = DEFAULT_SIGMA_BINS

    def __post_init__(self):
        # JSON gives lists; the config must stay hashable and comparable.
        object.__setattr__(self, "camera_names", tuple(self.camera_names))
        object.__setattr__(self, "image_size", tuple(self.image_size))
        for name in ("state_dim", "image_channels", "image_feature_dim", "hidden_size",
                     "num_layers"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise CriticConfigError(f"{name} must be a positive integer, got {value!r}")
        if not _is_int(self.object_dim) or self.object_dim < 0:
            raise CriticConfigError(f"object_dim must be a non-negative integer, got "
                                    f"{self.object_dim!r}")
        if not _is_int(self.num_bins) or self.num_bins < 3:
            raise CriticConfigError(f"num_bins must be an integer >= 3, got {self.num_bins!r}")
        if (not isinstance(self.target_sigma_bins, (int, float))
                or isinstance(self.target_sigma_bins, bool)
                or not math.isfinite(self.target_sigma_bins)
                or not 0.0 < self.target_sigma_bins <= self.num_bins):
            raise CriticConfigError(f"target_sigma_bins must be in (0, num_bins], got "
                                    f"{self.target_sigma_bins!r}")
        if len(set(self.camera_names)) != len(self.camera_names) or not all(
                isinstance(n, str) and n and n.replace("_", "").isalnum()
                for n in self.camera_names):
            raise CriticConfigError(f"camera_names must be unique identifiers, got "
                                    f"{self.camera_names!r}")
        if len(self.image_size) != 2 or not all(_is_int(s) and 8 <= s <= 128
                                                for s in self.image_size):
            raise CriticConfigError(f"image_size must be (height, width) with 8 <= each <= "
                                    f"128 (a CPU critic uses tiny images), got "
                                    f"{self.image_size!r}")

    def feature_shapes(self) -> dict[str, tuple[int, ...]]:
        """The normalised features (the keys normalisation statistics must have)."""
        shapes = {STATE_KEY: (self.state_dim,)}
        if self.object_dim:
            shapes[OBJECT_KEY] = (self.object_dim,)
        return shapes

    def image_keys(self) -> list[str]:
        return [IMAGE_KEY_PREFIX + name for name in self.camera_names]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
