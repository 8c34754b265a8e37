"""Cached computation cells on disk, shared safely by several processes.

A cell is a file or folder that marks finished work. Build folders in `fresh_partial(final)`
and rename to `final` when complete; write marker files with `write_json` (atomic); compute
under `cell_lock(final)`, re-checking inside the lock whether another process finished it.

    if not done(cell):
        with cell_lock(cell):
            if not done(cell):
                compute(cell)
"""
from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import torch


def write_json(path: Path, data) -> None:
    """Atomic: a reader never sees half a file (the file marks a finished cell)."""
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def fresh_partial(final: Path) -> Path:
    """An empty `<final>.partial` folder to build a cell in (left-overs of a kill removed)."""
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def cell_lock(cell: Path, poll_seconds: float = 5.0):
    """Hold `<cell>.lock` (created exclusively, holding our pid) for the block. Waits while a
    live process holds it; removes it when its holder is dead (killed mid-cell)."""
    lock = cell.with_name(cell.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = int(lock.read_text() or 0)
            except (OSError, ValueError):
                holder = 0   # being created right now: its pid is not written yet
            if holder and holder != os.getpid() and not _alive(holder):
                lock.unlink(missing_ok=True)
            else:
                time.sleep(poll_seconds)
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def read_json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


class torch_threads:
    """Set torch intra-op threads for a block and restore them (critic and labelling do not
    take a thread count; on a loaded 2-core machine 1 thread is much faster than 2)."""

    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        self.previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc):
        torch.set_num_threads(self.previous)
