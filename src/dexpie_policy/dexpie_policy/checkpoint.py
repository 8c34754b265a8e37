"""Self-describing policy directories (safetensors + JSON only; never pickle).

    <dir>/config.json          {"format_version", "policy_type", "config": FlowPolicyConfig}
    <dir>/model.safetensors    the state dict
    <dir>/normalization.json   NormalizationStats.to_dict()
    <dir>/action_spec.json     ActionSpec.to_dict() (groups, representations, joints, kinematics)

Loading checks everything against a freshly built model before any weight is used, and every
error names the file, key or tensor at fault.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dexpie_policy.actions import ActionSpec, ActionSpecError
from dexpie_policy.flow import POLICY_TYPE, ConfigError, FlowMatchingPolicy, FlowPolicyConfig
from dexpie_policy.normalization import NormalizationError, NormalizationStats

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NORMALIZATION_FILE = "normalization.json"
ACTION_SPEC_FILE = "action_spec.json"


class CheckpointError(ValueError):
    """A policy directory that cannot be loaded; the message names the file and the problem."""


def check_compatible(config: FlowPolicyConfig, stats: NormalizationStats,
                     spec: ActionSpec) -> None:
    """The three parts of a policy must describe the same robot and features."""
    stats.validate(config.feature_shapes())
    if spec.action_dim != config.action_dim:
        raise CheckpointError(f"action spec encodes {spec.action_dim} action dims, the model "
                              f"config has action_dim={config.action_dim}")
    if spec.num_joints != config.state_dim:
        # The proprioceptive observation is the joint position vector in spec joint order.
        raise CheckpointError(f"action spec names {spec.num_joints} joints, the model config "
                              f"has state_dim={config.state_dim}")


def save_policy(directory: str | Path, model: FlowMatchingPolicy, stats: NormalizationStats,
                spec: ActionSpec) -> Path:
    """Write the four files (directory created if needed); returns the directory."""
    check_compatible(model.config, stats, spec)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # clone(): safetensors refuses non-contiguous or memory-sharing tensors.
    tensors = {name: t.detach().cpu().contiguous().clone()
               for name, t in model.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS_FILE),
              metadata={"format": "pt", "policy_type": POLICY_TYPE,
                        "format_version": str(FORMAT_VERSION)})
    _write_json(directory / CONFIG_FILE, {"format_version": FORMAT_VERSION,
                                          "policy_type": POLICY_TYPE,
                                          "config": model.config.to_dict()})
    _write_json(directory / NORMALIZATION_FILE, stats.to_dict())
    _write_json(directory / ACTION_SPEC_FILE, spec.to_dict())
    return directory


def load_policy(directory: str | Path, device: str | torch.device = "cpu"
                ) -> tuple[FlowMatchingPolicy, NormalizationStats, ActionSpec]:
    """Read and validate a policy directory -> (model in eval mode, stats, spec)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"policy directory {str(directory)!r} does not exist")
    header = _read_json(directory / CONFIG_FILE)
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        version = header.get("format_version") if isinstance(header, dict) else None
        raise CheckpointError(f"{CONFIG_FILE}: format_version {version!r} is not supported "
                              f"(this code reads version {FORMAT_VERSION})")
    if header.get("policy_type") != POLICY_TYPE:
        raise CheckpointError(f"{CONFIG_FILE}: policy_type {header.get('policy_type')!r}, "
                              f"expected {POLICY_TYPE!r}")
    extra = sorted(set(header) - {"format_version", "policy_type", "config"})
    if extra:
        raise CheckpointError(f"{CONFIG_FILE}: unknown top-level keys {extra}")
    try:
        config = FlowPolicyConfig.from_dict(header.get("config"))
    except (ConfigError, TypeError) as error:
        raise CheckpointError(f"{CONFIG_FILE}: {error}") from None
    try:
        stats = NormalizationStats.from_dict(_read_json(directory / NORMALIZATION_FILE))
    except NormalizationError as error:
        raise CheckpointError(f"{NORMALIZATION_FILE}: {error}") from None
    try:
        spec = ActionSpec.from_dict(_read_json(directory / ACTION_SPEC_FILE))
    except (ActionSpecError, KeyError, TypeError) as error:
        raise CheckpointError(f"{ACTION_SPEC_FILE}: {error}") from None
    try:
        check_compatible(config, stats, spec)
    except NormalizationError as error:
        raise CheckpointError(f"{NORMALIZATION_FILE}: {error}") from None
    except CheckpointError as error:
        raise CheckpointError(f"{ACTION_SPEC_FILE} vs {CONFIG_FILE}: {error}") from None

    model = FlowMatchingPolicy(config)
    tensors = _read_weights(directory / WEIGHTS_FILE)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{WEIGHTS_FILE}: tensors do not match the model built from "
                              f"{CONFIG_FILE}: missing {missing}, unexpected {unexpected}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise CheckpointError(f"{WEIGHTS_FILE}: tensor {name!r} has shape "
                                  f"{tuple(tensor.shape)} {tensor.dtype}, the model expects "
                                  f"{tuple(expected[name].shape)} {expected[name].dtype}")
        if not torch.all(torch.isfinite(tensor)):
            raise CheckpointError(f"{WEIGHTS_FILE}: tensor {name!r} has non-finite values")
    model.load_state_dict(tensors, strict=True)
    return model.to(device).eval(), stats, spec


def _write_json(path: Path, data) -> None:
    # Write then rename, so that a crash never leaves a half-written file under the real name.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)


def _read_json(path: Path):
    if not path.is_file():
        raise CheckpointError(f"{path.name}: missing from policy directory {str(path.parent)!r}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path.name}: not valid JSON ({error})") from None


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path.name}: missing from policy directory {str(path.parent)!r}")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path.name}: corrupt or not a safetensors file ({error})") from None
