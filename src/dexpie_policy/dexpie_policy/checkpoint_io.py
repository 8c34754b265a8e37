"""File-level pieces shared by every self-describing checkpoint (policy, critic):
atomic JSON, safetensors weights, and the state-dict validation against a freshly built
module. Errors are raised as the caller's error class and name the file and the tensor."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


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
