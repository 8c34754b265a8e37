"""Cross-parameter checks shared by the twin's node schemas (pure)."""
from __future__ import annotations

from dexpie_sim.registry import TASK_NAMES


def task_known(values) -> str | None:
    """The required `task` parameter names a twin task."""
    if values["task"] not in TASK_NAMES:
        return f"parameter 'task' = {values['task']!r} rejected: one of {list(TASK_NAMES)} is required"
    return None
