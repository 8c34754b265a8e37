"""A writer process killed with SIGKILL mid-episode never damages finished episodes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from episode_helpers import write_random_episode

import dexpie_episode as ep

_WRITE_FOREVER = textwrap.dedent("""
    import sys
    import numpy as np
    from dexpie_episode import EpisodeMeta, EpisodeWriter

    meta = EpisodeMeta(task="relocate", stage="init", seed=1, joint_names=["a", "b"],
                       control_dt=1 / 30, cameras=("front",))
    writer = EpisodeWriter(sys.argv[1], meta, episode_id="killed")
    frame = np.zeros((64, 64, 3), dtype=np.uint8)  # ~12 kB/tick: MCAP chunks hit the disk
    tick = 0
    while True:
        writer.write_tick(1_000_000 + tick * 33_333_333, [0.0, 1.0], [0.0, 0.0], [0.5, 0.5],
                          images={"front": frame})
        tick += 1
        if tick == 300:
            print("mid-episode", flush=True)
    """)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_sigkill_mid_episode_leaves_finished_episodes_intact(tmp_path: Path) -> None:
    first = write_random_episode(tmp_path, "finished_1", num_ticks=20, seed=1)
    write_random_episode(tmp_path, "finished_2", num_ticks=30, seed=2)
    before = {name: _digest(tmp_path / name) for name in ("finished_1", "finished_2")}

    child = subprocess.Popen(
        [sys.executable, "-c", _WRITE_FOREVER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "mid-episode"  # blocks until it is mid-write
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert (tmp_path / "killed.partial").is_dir() and not (tmp_path / "killed").exists()
    assert any(p.stat().st_size > 1_000_000 for p in (tmp_path / "killed.partial").rglob("*.mcap"))

    assert {name: _digest(tmp_path / name) for name in before} == before
    episodes, errors = ep.load_episodes(tmp_path)
    assert [e.episode_id for e in episodes] == ["finished_1", "finished_2"]
    np.testing.assert_array_equal(episodes[0].joint_positions, first["q"])
    assert len(errors) == 1 and isinstance(errors[0], ep.IncompleteEpisodeError)
    assert "killed.partial" in str(errors[0]) and "writer died" in str(errors[0])
    assert ep.episode_dir_state(tmp_path / "killed.partial") is ep.EpisodeDirState.ABANDONED

    moved = ep.recover_partial_episodes(tmp_path)
    assert moved == [tmp_path / "killed.incomplete"]
    episodes, errors = ep.load_episodes(tmp_path)
    assert len(episodes) == 2 and len(errors) == 1 and "set aside" in str(errors[0])
    # A new episode can still be written next to the wreck.
    write_random_episode(tmp_path, "finished_3", num_ticks=5, seed=3)
    assert len(ep.load_episodes(tmp_path)[0]) == 3


def test_leftover_staging_of_a_published_episode_is_ignored_and_removed(tmp_path: Path) -> None:
    # A writer killed between publishing its bag (rename) and removing its staging folder.
    write_random_episode(tmp_path, "published", num_ticks=5)
    leftover = tmp_path / "published.partial"
    leftover.mkdir()
    (leftover / "writer.lock").touch()
    assert ep.episode_dir_state(leftover) is ep.EpisodeDirState.PUBLISHED_LEFTOVER
    episodes, errors = ep.load_episodes(tmp_path)
    assert [e.episode_id for e in episodes] == ["published"] and errors == []
    assert ep.recover_partial_episodes(tmp_path) == []
    assert not leftover.exists()
