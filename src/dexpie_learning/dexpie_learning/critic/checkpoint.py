"""Self-describing critic directories (safetensors + JSON only; never pickle).

    <dir>/config.json          {"format_version", "critic_type", "config": CriticConfig,
                                "metadata": {...}}  (metadata: free JSON, e.g. the return
                                settings and the ids of the episodes the critic trained on)
    <dir>/model.safetensors    the state dict
    <dir>/normalization.json   NormalizationStats.to_dict()

Loading checks everything against a freshly built critic before any weight is used, and
every error names the file, key or tensor at fault: the same CheckpointFolder
(dexpie_policy.checkpoint_io) as the policy's writes and checks the three files.
"""
from __future__ import annotations

from pathlib import Path

import torch

from dexpie_learning.critic.configuration_critic import CRITIC_TYPE, CriticConfig
from dexpie_learning.critic.modeling_critic import DistributionalCritic
from dexpie_policy.checkpoint_io import (CONFIG_FILE, NORMALIZATION_FILE,  # noqa: F401
                                         WEIGHTS_FILE, CheckpointFolder)
from dexpie_policy.normalization import NormalizationError

FORMAT_VERSION = 1


class CriticCheckpointError(ValueError):
    """A critic directory that cannot be loaded; the message names the file and the problem."""


CRITIC_FOLDER = CheckpointFolder(kind="critic", type_key="critic_type", type_name=CRITIC_TYPE,
                                 error=CriticCheckpointError, format_version=FORMAT_VERSION,
                                 extra_keys=("metadata",))


def save_critic(directory: str | Path, critic: DistributionalCritic,
                metadata: dict | None = None) -> Path:
    """Write the three files (directory created if needed); returns the directory."""
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    critic.stats.validate(critic.config.feature_shapes())
    return CRITIC_FOLDER.write(directory, critic, critic.config.to_dict(), critic.stats,
                               metadata=metadata)


def load_critic(directory: str | Path, device: str | torch.device = "cpu"
                ) -> tuple[DistributionalCritic, dict]:
    """Read and validate a critic directory -> (critic in eval mode, metadata)."""
    directory = CRITIC_FOLDER.existing_directory(directory)
    header = CRITIC_FOLDER.read_header(directory)
    metadata = header.get("metadata", {})
    if not isinstance(metadata, dict):
        raise CriticCheckpointError(f"{CONFIG_FILE}: metadata must be a mapping, got "
                                    f"{type(metadata).__name__}")
    config = CRITIC_FOLDER.read_config(header, CriticConfig)
    stats = CRITIC_FOLDER.read_stats(directory)
    try:
        critic = DistributionalCritic(config, stats)    # validates the stats' keys and shapes
    except NormalizationError as error:
        raise CriticCheckpointError(f"{NORMALIZATION_FILE}: {error}") from None

    CRITIC_FOLDER.load_weights(critic, directory, "critic")
    return critic.to(device).eval(), metadata
