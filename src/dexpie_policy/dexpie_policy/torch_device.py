"""A torch device named in a setting, checked against what this machine's torch has (no
rclpy). "cuda:7" on a machine with one GPU, or with a CPU-only torch, is refused by name at
start-up instead of failing (a traceback) when the model is first moved there. torch is
imported on first use, so that a parameter schema using `TorchDevice` stays light to import."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def check_torch_device(device: str, types: tuple[str, ...] = ("cpu", "cuda")) -> torch.device:
    """`device` as a torch.device of one of `types` that this machine has; ValueError naming it."""
    import torch

    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a torch device (cpu, cuda, cuda:1)") from None
    if resolved.type not in types:
        raise ValueError(f"device {device!r}: must be one of {', '.join(types)}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: torch sees no CUDA device on this machine")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} "
                         "CUDA device(s)")
    return resolved


class TorchDevice:
    """Parameter validator (dexpie_common.parameters): a device this machine's torch has."""

    def __call__(self, value) -> str | None:
        if value == "cpu":   # every torch has it (and the default need not import torch)
            return None
        try:
            check_torch_device(value)
        except ValueError as error:
            return str(error)
        return None

    def describe(self) -> str:
        return "cpu, cuda or cuda:<k> present on this machine"
