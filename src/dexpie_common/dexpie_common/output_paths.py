"""Output paths checked before any work starts (pure: no ROS, no torch).

A command that writes its results at the end (a trained checkpoint, an evaluation report, an
experiment's folder) must find out at once that it could not: an existing file where a folder
is wanted, a folder it may not write in, a read-only or full disk. Each check writes and
removes a small probe file where the outputs will go, so that whatever the operating system
would refuse later is refused now, as one line naming the option and the path.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

PROBE_BYTES = 64 * 1024  # a probe this large still fails on a disk that is full


class OutputPathError(ValueError):
    """An output path that cannot be written; the message names the option and the path."""


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _probe(folder: Path, where: str) -> None:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".dexpie-write-check-") as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise OutputPathError(f"{where}: cannot write there ({_reason(error)})") from None


def check_output_folder(path: str | Path, option: str = "--out") -> Path:
    """`path` as a folder the command can write in: created (with its parents) when missing,
    refused when it is a file or cannot be created or written. Returns the path."""
    path = Path(path)
    where = f"{option} {str(path)!r}"
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{where}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(f"{where}: cannot create the folder ({_reason(error)})") from None
    _probe(path, where)
    return path


def check_output_file(path: str | Path, option: str) -> Path:
    """`path` as a file the command can write at the end: its folder is created when missing
    and must be writable; an existing file must be a file that may be replaced. Nothing is
    written to `path` itself (an earlier report stays until the new one replaces it)."""
    path = Path(path)
    where = f"{option} {str(path)!r}"
    if path.is_dir():
        raise OutputPathError(f"{where}: is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"{where}: exists and is read-only")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{where}: {str(folder)!r} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(f"{where}: cannot create its folder ({_reason(error)})") from None
    _probe(folder, where)
    return path
