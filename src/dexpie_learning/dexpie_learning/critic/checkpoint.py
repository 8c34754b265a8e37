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

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dexpie_learning.critic.configuration_critic import (CRITIC_TYPE, CriticConfig,
                                                         CriticConfigError)
from dexpie_learning.critic.modeling_critic import DistributionalCritic
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
    # clone(): safetensors refuses non-contiguous or memory-sharing tensors.
    tensors = {name: t.detach().cpu().contiguous().clone()
               for name, t in critic.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS_FILE),
              metadata={"format": "pt", "critic_type": CRITIC_TYPE,
                        "format_version": str(FORMAT_VERSION)})
    _write_json(directory / CONFIG_FILE, {"format_version": FORMAT_VERSION,
                                          "critic_type": CRITIC_TYPE,
                                          "config": critic.config.to_dict(),
                                          "metadata": metadata})
    _write_json(directory / NORMALIZATION_FILE, critic.stats.to_dict())
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

    tensors = _read_weights(directory / WEIGHTS_FILE)
    expected = critic.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CriticCheckpointError(f"{WEIGHTS_FILE}: tensors do not match the critic built "
                                    f"from {CONFIG_FILE}: missing {missing}, unexpected "
                                    f"{unexpected}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise CriticCheckpointError(
                f"{WEIGHTS_FILE}: tensor {name!r} has shape {tuple(tensor.shape)} "
                f"{tensor.dtype}, the critic expects {tuple(expected[name].shape)} "
                f"{expected[name].dtype}")
        if not torch.all(torch.isfinite(tensor)):
            raise CriticCheckpointError(f"{WEIGHTS_FILE}: tensor {name!r} has non-finite values")
    critic.load_state_dict(tensors, strict=True)
    return critic.to(device).eval(), metadata


def _write_json(path: Path, data) -> None:
    # Write then rename, so that a crash never leaves a half-written file under the real name.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)


def _read_json(path: Path):
    if not path.is_file():
        raise CriticCheckpointError(f"{path.name}: missing from critic directory "
                                    f"{str(path.parent)!r}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CriticCheckpointError(f"{path.name}: not valid JSON ({error})") from None


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CriticCheckpointError(f"{path.name}: missing from critic directory "
                                    f"{str(path.parent)!r}")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CriticCheckpointError(f"{path.name}: corrupt or not a safetensors file "
                                    f"({error})") from None
