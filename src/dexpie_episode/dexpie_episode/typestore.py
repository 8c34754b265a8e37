"""A rosbags typestore for ROS 2 Jazzy plus the dexpie_msgs types, built from the .msg files.

The writer needs type definitions (serialization, and the definitions + RIHS01 hashes
stored in each bag so that any ROS 2 tool and AnyReader can read it). The .msg files are the
single source of truth: they are taken from the installed package (`<prefix>/share/
dexpie_msgs/msg/`, where the build installs them) or, in a source checkout that has not been
built, from `src/dexpie_msgs/msg/`.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from .schema import DEXPIE_MESSAGE_NAMES

# This file is src/dexpie_episode/dexpie_episode/typestore.py in a checkout.
_SOURCE_TREE_MSG_DIR = Path(__file__).resolve().parents[2] / "dexpie_msgs" / "msg"


class MessageDefinitionsNotFound(RuntimeError):
    """Neither an installed nor a source copy of the dexpie_msgs .msg files was found."""


def candidate_msg_dirs() -> list[Path]:
    """Where dexpie_msgs/msg/*.msg may be, in order of preference."""
    prefixes = [Path(sys.prefix)]
    # A colcon/ament install elsewhere (e.g. a sourced workspace) is also acceptable.
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix and Path(prefix) not in prefixes:
            prefixes.append(Path(prefix))
    dirs = [prefix / "share" / "dexpie_msgs" / "msg" for prefix in prefixes]
    dirs.append(_SOURCE_TREE_MSG_DIR)
    return dirs


def find_dexpie_msg_dir() -> Path:
    for directory in candidate_msg_dirs():
        if all((directory / f"{name}.msg").is_file() for name in DEXPIE_MESSAGE_NAMES):
            return directory
    searched = "\n  ".join(str(d) for d in candidate_msg_dirs())
    raise MessageDefinitionsNotFound(
        f"dexpie_msgs message definitions ({', '.join(DEXPIE_MESSAGE_NAMES)}.msg) not found; "
        f"build src/dexpie_msgs (scripts/setup.sh) or run from a source checkout. Searched:\n  "
        f"{searched}"
    )


@functools.cache
def jazzy_typestore() -> Typestore:
    """The ROS 2 Jazzy types. Cached: building a typestore takes ~0.1 s."""
    return get_typestore(Stores.ROS2_JAZZY)


@functools.cache
def episode_typestore() -> Typestore:
    """Jazzy types + dexpie_msgs types (registered into the cached Jazzy store, a superset)."""
    typestore = jazzy_typestore()
    msg_dir = find_dexpie_msg_dir()
    definitions = {}
    for name in DEXPIE_MESSAGE_NAMES:
        text = (msg_dir / f"{name}.msg").read_text(encoding="utf-8")
        definitions.update(get_types_from_msg(text, f"dexpie_msgs/msg/{name}"))
    typestore.register(definitions)
    return typestore
