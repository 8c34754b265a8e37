"""The `dexpie-episodes` command: `export-lerobot` needs no ROS graph (nor rclpy), everything
else runs episodes on a running graph (dexpie_bringup.episodes, which imports rclpy).

    dexpie-episodes --task relocate --episodes 10            # run episodes (needs the graph)
    dexpie-episodes export-lerobot runs/demos --out exports/demos   # bags -> LeRobotDataset
"""
from __future__ import annotations

import sys

EXPORT_LEROBOT = "export-lerobot"


def _optimality(labels_dir, label_set: str) -> dict:
    """episode id -> (T,) optimality of a label set written by `dexpie-train label`."""
    from dexpie_learning.labels import load_labels

    labels = load_labels(labels_dir, label_set)
    return {i: labels.optimality_of(i) for i in labels.episode_ids}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == EXPORT_LEROBOT:
        from dexpie_episode.lerobot_export import main as export_main

        return export_main(argv[1:], prog=f"dexpie-episodes {EXPORT_LEROBOT}", load_optimality=_optimality)
    from dexpie_bringup.episodes import main as run_main

    return run_main(argv)


if __name__ == "__main__":
    sys.exit(main())
