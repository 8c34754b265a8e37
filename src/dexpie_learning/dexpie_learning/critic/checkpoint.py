"""Self-describing critic directories (safetensors + JSON only; never pickle).

    <dir>/config.json          {"format_version", "critic_type", "config": CriticConfig,
                                "metadata": {...}}  (metadata: free JSON, e.g. the return
                                settings and the ids of the episodes the critic trained on)
    <dir>/model.safetensors    the state dict
    <dir>/normalization.json   NormalizationStats.to_dict()

Loading checks everything against a freshly built critic before any weight is used, and
every error names the file, key or tensor at fault (same rules as dexpie_policy.checkpoint).
"""
from __future__ import annotations

from pathlib import Path

import torch

from dexpie_learning.critic.configuration_critic import (CRITIC_TYPE, CriticConfig,
                                                         CriticConfigError)
from dexpie_learning.critic.modeling_critic import DistributionalCritic
from dexpie_policy.checkpoint_io import (load_checked_state_dict, read_json, read_weights,
                                         save_weights, write_json)
from dexpie_policy.normalization import NormalizationError, NormalizationStats

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NORMALIZATION_FILE = "normalization.json"


class CriticCheckpointError(ValueError):
    """A critic directory that cannot be loaded; the message names the file and the problem."""


def save_critic(directory: str | Path, critic: DistributionalCritic,
                metadata: dict | None = None) -> Path:
    """Write the three files (directory created if needed); returns the directory."""
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    critic.stats.validate(critic.config.feature_shapes())
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_weights(directory / WEIGHTS_FILE, critic,
                 {"format": "pt", "critic_type": CRITIC_TYPE, "format_version": str(FORMAT_VERSION)})
    write_json(directory / CONFIG_FILE, {"format_version": FORMAT_VERSION,
                                          "critic_type": CRITIC_TYPE,
                                          "config": critic.config.to_dict(),
                                          "metadata": metadata})
    write_json(directory / NORMALIZATION_FILE, critic.stats.to_dict())
    return directory


def load_critic(directory: str | Path, device: str | torch.device = "cpu"
                ) -> tuple[DistributionalCritic, dict]:
    """Read and validate a critic directory -> (critic in eval mode, metadata)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CriticCheckpointError(f"critic directory {str(directory)!r} does not exist")
    header = _read_json(directory / CONFIG_FILE)
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        version = header.get("format_version") if isinstance(header, dict) else None
        raise CriticCheckpointError(f"{CONFIG_FILE}: format_version {version!r} is not "
                                    f"supported (this code reads version {FORMAT_VERSION})")
    if header.get("critic_type") != CRITIC_TYPE:
        raise CriticCheckpointError(f"{CONFIG_FILE}: critic_type {header.get('critic_type')!r}, "
                                    f"expected {CRITIC_TYPE!r}")
    extra = sorted(set(header) - {"format_version", "critic_type", "config", "metadata"})
    if extra:
        raise CriticCheckpointError(f"{CONFIG_FILE}: unknown top-level keys {extra}")
    metadata = header.get("metadata", {})
    if not isinstance(metadata, dict):
        raise CriticCheckpointError(f"{CONFIG_FILE}: metadata must be a mapping, got "
                                    f"{type(metadata).__name__}")
    try:
        config = CriticConfig.from_dict(header.get("config"))
    except CriticConfigError as error:
        raise CriticCheckpointError(f"{CONFIG_FILE}: {error}") from None
    try:
        stats = NormalizationStats.from_dict(_read_json(directory / NORMALIZATION_FILE))
        critic = DistributionalCritic(config, stats)    # validates the stats' keys and shapes
    except NormalizationError as error:
        raise CriticCheckpointError(f"{NORMALIZATION_FILE}: {error}") from None

    load_checked_state_dict(critic, _read_weights(directory / WEIGHTS_FILE), WEIGHTS_FILE,
                            CONFIG_FILE, CriticCheckpointError, "critic")
    return critic.to(device).eval(), metadata


def _read_json(path: Path):
    return read_json(path, CriticCheckpointError, "critic")


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    return read_weights(path, CriticCheckpointError, "critic")
