"""Helpers shared by the episode_recorder tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_KILLED_WRITER = textwrap.dedent("""
    import os, sys
    import numpy as np
    from dexpie_episode import EpisodeMeta, EpisodeWriter
    from dexpie_episode.live_recording import write_recording_note
    from dexpie_episode.layout import staging_dir
    meta = EpisodeMeta(task="door", stage="unlatched", seed=11, joint_names=["a"], control_dt=0.1)
    writer = EpisodeWriter(sys.argv[1], meta, episode_id="killed")
    write_recording_note(staging_dir(writer.root_dir, "killed"), meta, "killed")
    for tick in range(5):
        writer.write_tick(1 + tick, [0.0], [0.0], [0.0])
    os._exit(0)  # like SIGKILL: no close, no cleanup
    """)


def simulate_killed_recorder(folder: Path) -> None:
    subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(folder)], check=True, timeout=60)
