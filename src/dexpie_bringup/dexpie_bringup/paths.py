"""Where the bringup's data files are: the source tree (editable install) or the ament share."""
from __future__ import annotations

from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def share_dir() -> Path:
    """The package's data root (config/, launch/, rviz/)."""
    if (_SOURCE_ROOT / "config").is_dir():
        return _SOURCE_ROOT
    from ament_index_python.packages import get_package_share_directory  # installed by colcon
    return Path(get_package_share_directory("dexpie_bringup"))


def config_dir() -> Path:
    return share_dir() / "config"


def rviz_config() -> Path:
    return share_dir() / "rviz" / "dexpie.rviz"
