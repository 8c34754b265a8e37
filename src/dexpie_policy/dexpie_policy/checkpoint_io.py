"""What every self-describing checkpoint folder (policy, critic) shares, written once:

    <dir>/config.json          {"format_version", "<kind>_type", "config", ...}
    <dir>/model.safetensors    the state dict (never pickle)
    <dir>/normalization.json   NormalizationStats.to_dict()

`CheckpointFolder` saves and loads these three files and validates them on load (format
version, type, unknown top-level keys, config keys via the config's strict `from_dict`,
normalisation statistics, tensor names, shapes, dtypes and finiteness against a freshly built
module); the policy and the critic add their own files and checks around it. Below it, the
file-level pieces: atomic JSON, safetensors weights, the state-dict check. Errors are raised
as the caller's error class and name the file, the key or the tensor.

Here, in dexpie_policy, not in dexpie_common: it needs torch and safetensors, which the
node plumbing does not; dexpie_learning (the critic) imports dexpie_policy anyway.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dexpie_policy.normalization import NormalizationError, NormalizationStats

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NORMALIZATION_FILE = "normalization.json"


@dataclass(frozen=True)
class CheckpointFolder:
    """One kind of checkpoint folder. kind: names it in messages ("policy", "critic");
    type_key, type_name: config.json's "<kind>_type" entry and the value it must have;
    error: the exception raised for every problem; extra_keys: further top-level keys of
    config.json (besides format_version, type_key and config)."""
    kind: str
    type_key: str
    type_name: str
    error: type[Exception]
    format_version: int = 1
    extra_keys: tuple[str, ...] = ()

    # ---- saving ------------------------------------------------------------------------
    def write(self, directory: str | Path, module: torch.nn.Module, config: dict,
              stats: NormalizationStats, **extra) -> Path:
        """The three shared files (directory created if needed; `extra`: the extra_keys'
        values in config.json); returns the directory."""
        unknown = sorted(set(extra) - set(self.extra_keys))
        if unknown:
            raise TypeError(f"{self.kind} config.json has no keys {unknown}")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_weights(directory / WEIGHTS_FILE, module,
                     {"format": "pt", self.type_key: self.type_name,
                      "format_version": str(self.format_version)})
        write_json(directory / CONFIG_FILE, {"format_version": self.format_version,
                                              self.type_key: self.type_name,
                                              "config": config, **extra})
        write_json(directory / NORMALIZATION_FILE, stats.to_dict())
        return directory

    # ---- loading, in this order --------------------------------------------------------
    def existing_directory(self, directory: str | Path) -> Path:
        directory = Path(directory)
        if not directory.is_dir():
            raise self.error(f"{self.kind} directory {str(directory)!r} does not exist")
        return directory

    def read_header(self, directory: Path) -> dict:
        """config.json, its format version, type and top-level keys checked."""
        header = self.read_json(directory / CONFIG_FILE)
        if not isinstance(header, dict) or header.get("format_version") != self.format_version:
            version = header.get("format_version") if isinstance(header, dict) else None
            raise self.error(f"{CONFIG_FILE}: format_version {version!r} is not supported "
                             f"(this code reads version {self.format_version})")
        if header.get(self.type_key) != self.type_name:
            raise self.error(f"{CONFIG_FILE}: {self.type_key} {header.get(self.type_key)!r}, "
                             f"expected {self.type_name!r}")
        extra = sorted(set(header) - {"format_version", self.type_key, "config",
                                      *self.extra_keys})
        if extra:
            raise self.error(f"{CONFIG_FILE}: unknown top-level keys {extra}")
        return header

    def read_config(self, header: dict, config_class):
        """The header's config through the config class's strict `from_dict` (a
        dexpie_common.stored_config.StoredConfig)."""
        try:
            return config_class.from_dict(header.get("config"))
        except config_class.config_error as error:
            raise self.error(f"{CONFIG_FILE}: {error}") from None

    def read_stats(self, directory: Path) -> NormalizationStats:
        try:
            return NormalizationStats.from_dict(self.read_json(directory / NORMALIZATION_FILE))
        except NormalizationError as error:
            raise self.error(f"{directory / NORMALIZATION_FILE}: {error}") from None

    def load_weights(self, module: torch.nn.Module, directory: Path, module_name: str) -> None:
        """model.safetensors into `module` after the checks of load_checked_state_dict;
        module_name ("model", "critic") names it in messages."""
        load_checked_state_dict(module, self.read_weights(directory / WEIGHTS_FILE),
                                WEIGHTS_FILE, CONFIG_FILE, self.error, module_name)

    def read_json(self, path: Path):
        return read_json(path, self.error, self.kind)

    def read_weights(self, path: Path) -> dict[str, torch.Tensor]:
        return read_weights(path, self.error, self.kind)


def write_json(path: Path, data) -> None:
    # Write then rename, so that a crash never leaves a half-written file under the real name.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)


def read_json(path: Path, error: type[Exception], kind: str):
    """`kind` names the directory in messages, e.g. "policy"."""
    if not path.is_file():
        raise error(f"{path.name}: missing from {kind} directory {str(path.parent)!r}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path.name}: not valid JSON ({exc})") from None


def save_weights(path: Path, module: torch.nn.Module, metadata: dict[str, str]) -> None:
    # clone(): safetensors refuses non-contiguous or memory-sharing tensors.
    tensors = {name: t.detach().cpu().contiguous().clone() for name, t in module.state_dict().items()}
    save_file(tensors, str(path), metadata=metadata)


def read_weights(path: Path, error: type[Exception], kind: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise error(f"{path.name}: missing from {kind} directory {str(path.parent)!r}")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise error(f"{path.name}: corrupt or not a safetensors file ({exc})") from None


def load_checked_state_dict(module: torch.nn.Module, tensors: dict[str, torch.Tensor],
                            weights_file: str, config_file: str, error: type[Exception],
                            kind: str) -> None:
    """Load `tensors` into `module` after checking names, shapes, dtypes and finiteness;
    `kind` ("model", "critic") names the module in messages."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise error(f"{weights_file}: tensors do not match the {kind} built from {config_file}: "
                    f"missing {missing}, unexpected {unexpected}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise error(f"{weights_file}: tensor {name!r} has shape {tuple(tensor.shape)} "
                        f"{tensor.dtype}, the {kind} expects {tuple(expected[name].shape)} "
                        f"{expected[name].dtype}")
        if not torch.all(torch.isfinite(tensor)):
            raise error(f"{weights_file}: tensor {name!r} has non-finite values")
    module.load_state_dict(tensors, strict=True)
