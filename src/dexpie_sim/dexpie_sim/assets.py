"""Where the MuJoCo model files live.

The Adroit hand (Apache-2.0) ships inside the `gymnasium-robotics` wheel; we load its XML
files from there and never copy them into the repository.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path


class AssetNotFoundError(FileNotFoundError):
    pass


def adroit_asset_dir() -> Path:
    """Folder holding `adroit_*.xml` and `resources/` of the installed gymnasium-robotics."""
    spec = importlib.util.find_spec("gymnasium_robotics")
    if spec is None or spec.origin is None:
        raise AssetNotFoundError(
            "gymnasium-robotics is not installed; it ships the Adroit hand model files. "
            "Run scripts/setup.sh (or `pip install gymnasium-robotics==1.4.2`).")
    folder = Path(spec.origin).parent / "envs" / "assets" / "adroit_hand"
    if not (folder / "adroit_model.xml").is_file():
        raise AssetNotFoundError(f"Adroit model files not found under {folder}")
    return folder


def adroit_xml(name: str) -> Path:
    """Path of one Adroit scene file, e.g. `adroit_xml("adroit_relocate.xml")`."""
    path = adroit_asset_dir() / name
    if not path.is_file():
        raise AssetNotFoundError(f"Adroit scene {name!r} not found in {path.parent}")
    return path
