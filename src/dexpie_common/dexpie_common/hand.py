"""The hand description: everything learning knows of a robot (pure: no ROS, no simulator).

One small, validated record of the hand and its task, which travels with the data:

    joint_names         the joints in observation / command order
    groups              which joints each device drives (spacemouse -> arm/wrist, glove ->
                        fingers) and each group's action representation
    lower_limits, upper_limits, max_velocity
                        per joint, in joint_names order [rad or m, rad/s or m/s]
    control_rate_hz     the control tick rate
    max_episode_steps   the episode step limit L (the critic's return normaliser)
    object_names, cameras
                        optional object-state entries and camera names

On a robot it comes from the parameters file the graph runs with (a `hand:` block under
`/**: ros__parameters:`, see `config/robot_template.yaml`); in the twin it is generated from
the task (`dexpie_sim.graph_params.hand_description`). The episode recorder writes it into
every episode's metadata (`dexpie.hand`), training reads it from the bags, checkpoints carry
it (`hand.json`) and the policy server checks it against the running hand.

Three spellings of the same record, each validated the same way:
- a dict (`to_dict` / `from_dict`: JSON in bag metadata and checkpoints),
- a YAML file (`load_hand_file`): either a plain `hand:` document, or a ROS 2 parameters file
  whose `/**` section holds the `hand.*` parameters (so the graph's file is the hand file),
- flat ROS 2 parameters (`to_parameters` / `from_parameters`): ROS parameters cannot hold a
  list of records, so each group is `hand.groups.<name>.{joints, device, representation,
  kinematics}` and `hand.group_names` gives their order.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

SPACEMOUSE = "spacemouse"
GLOVE = "glove"
DEVICES = (SPACEMOUSE, GLOVE)
# The action representations a group may use (dexpie_policy.actions.spec implements them).
ABSOLUTE_JOINT = "absolute_joint"
RELATIVE_JOINT = "relative_joint"
RELATIVE_EE_POSE = "relative_ee_pose"
REPRESENTATIONS = (ABSOLUTE_JOINT, RELATIVE_JOINT, RELATIVE_EE_POSE)

PARAMETER_PREFIX = "hand."


class HandDescriptionError(ValueError):
    """A hand description that is malformed or inconsistent; the message names the field."""


@dataclass(frozen=True)
class JointGroup:
    """Joints one device drives, and how the policy's actions for them are represented.
    `kinematics` names the model `relative_ee_pose` needs (dexpie_policy.actions.kinematics)."""
    name: str
    joints: tuple[str, ...]
    device: str
    representation: str
    kinematics: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "joints", tuple(self.joints))
        where = f"hand group {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise HandDescriptionError("a hand group has an empty name")
        if not self.joints or not all(isinstance(j, str) and j for j in self.joints):
            raise HandDescriptionError(f"{where}: joints must be a non-empty list of names")
        if self.device not in DEVICES:
            raise HandDescriptionError(f"{where}: device {self.device!r} is not one of {list(DEVICES)}")
        if self.representation not in REPRESENTATIONS:
            raise HandDescriptionError(f"{where}: representation {self.representation!r} is not "
                                       f"one of {list(REPRESENTATIONS)}")
        if (self.representation == RELATIVE_EE_POSE) != bool(self.kinematics):
            raise HandDescriptionError(f"{where}: kinematics is needed by relative_ee_pose and "
                                       f"only by it (representation {self.representation!r}, "
                                       f"kinematics {self.kinematics!r})")

    def to_dict(self) -> dict:
        return dict(name=self.name, joints=list(self.joints), device=self.device,
                    representation=self.representation, kinematics=self.kinematics)


@dataclass(frozen=True)
class HandDescription:
    """See the module docstring. Every per-joint sequence is in `joint_names` order."""
    name: str
    joint_names: tuple[str, ...]
    groups: tuple[JointGroup, ...]
    lower_limits: tuple[float, ...]
    upper_limits: tuple[float, ...]
    max_velocity: tuple[float, ...]
    control_rate_hz: float
    max_episode_steps: int
    object_names: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("joint_names", "groups", "object_names", "cameras"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("lower_limits", "upper_limits", "max_velocity"):
            values = getattr(self, name)
            if not isinstance(values, (list, tuple)) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise HandDescriptionError(f"hand {name} must be a list of numbers, got {values!r}")
            object.__setattr__(self, name, tuple(float(v) for v in values))
        if not isinstance(self.name, str) or not self.name:
            raise HandDescriptionError("hand name must be a non-empty string")
        _check_names("joint_names", self.joint_names, non_empty=True)
        _check_names("object_names", self.object_names)
        _check_names("cameras", self.cameras)
        n = len(self.joint_names)
        for name in ("lower_limits", "upper_limits", "max_velocity"):
            values = getattr(self, name)
            if len(values) != n:
                raise HandDescriptionError(f"hand {name} has {len(values)} entries, joint_names {n}")
            bad = [self.joint_names[i] for i, v in enumerate(values) if not math.isfinite(v)]
            if bad:
                raise HandDescriptionError(f"hand {name} is not finite for joints {bad}")
        bad = [j for j, lo, hi in zip(self.joint_names, self.lower_limits, self.upper_limits) if lo > hi]
        if bad:
            raise HandDescriptionError(f"hand lower_limits above upper_limits for joints {bad}")
        bad = [j for j, v in zip(self.joint_names, self.max_velocity) if v <= 0]
        if bad:
            raise HandDescriptionError(f"hand max_velocity must be > 0 for joints {bad}")
        if (isinstance(self.control_rate_hz, bool) or not isinstance(self.control_rate_hz, (int, float))
                or not math.isfinite(self.control_rate_hz) or self.control_rate_hz <= 0):
            raise HandDescriptionError(f"hand control_rate_hz must be a positive number, "
                                       f"got {self.control_rate_hz!r}")
        object.__setattr__(self, "control_rate_hz", float(self.control_rate_hz))
        if (isinstance(self.max_episode_steps, bool) or not isinstance(self.max_episode_steps, int)
                or self.max_episode_steps < 1):
            raise HandDescriptionError(f"hand max_episode_steps must be a positive integer, "
                                       f"got {self.max_episode_steps!r}")
        self._check_groups()

    def _check_groups(self) -> None:
        if not self.groups:
            raise HandDescriptionError("hand groups: at least one group is needed")
        if not all(isinstance(g, JointGroup) for g in self.groups):
            raise HandDescriptionError("hand groups must be JointGroup records")
        names = [g.name for g in self.groups]
        twice = sorted({g for g in names if names.count(g) > 1})
        if twice:
            raise HandDescriptionError(f"hand group names used twice: {twice}")
        owner: dict[str, str] = {}
        for group in self.groups:
            for joint in group.joints:
                if joint not in self.joint_names:
                    raise HandDescriptionError(f"hand group {group.name!r} names joint {joint!r}, "
                                               "which is not in joint_names")
                if joint in owner:
                    raise HandDescriptionError(f"joint {joint!r} is in two hand groups: "
                                               f"{owner[joint]!r} and {group.name!r}")
                owner[joint] = group.name
        missing = [j for j in self.joint_names if j not in owner]
        if missing:
            raise HandDescriptionError(f"joints in no hand group: {missing}")

    # ---- views ----------------------------------------------------------------------------
    @property
    def control_dt(self) -> float:
        return 1.0 / self.control_rate_hz

    def joints_driven_by(self, device: str) -> tuple[str, ...]:
        """The joints of every group `device` drives, in group order."""
        return tuple(j for g in self.groups if g.device == device for j in g.joints)

    @property
    def arm_joints(self) -> tuple[str, ...]:
        return self.joints_driven_by(SPACEMOUSE)

    @property
    def finger_joints(self) -> tuple[str, ...]:
        return self.joints_driven_by(GLOVE)

    def differences(self, other: "HandDescription") -> list[str]:
        """Names of the fields in which `other` differs from this description."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    # ---- dict / JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["groups"] = [g.to_dict() for g in self.groups]
        for name in ("joint_names", "object_names", "cameras", "lower_limits", "upper_limits",
                     "max_velocity"):
            data[name] = list(data[name])
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> "HandDescription":
        if not isinstance(data, Mapping):
            raise HandDescriptionError(f"a hand description must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        required = known - {"object_names", "cameras"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise HandDescriptionError(f"hand description has unknown fields {unknown} "
                                       f"(known: {sorted(known)})")
        missing = sorted(required - set(data))
        if missing:
            raise HandDescriptionError(f"hand description is missing fields {missing}")
        groups = data["groups"]
        if not isinstance(groups, (list, tuple)):
            raise HandDescriptionError("hand groups must be a list of {name, joints, device, "
                                       "representation[, kinematics]}")
        parsed = []
        for entry in groups:
            if not isinstance(entry, Mapping):
                raise HandDescriptionError(f"hand group must be a mapping, got {entry!r}")
            unknown = sorted(set(entry) - {"name", "joints", "device", "representation", "kinematics"})
            missing = sorted({"name", "joints", "device", "representation"} - set(entry))
            if unknown or missing:
                raise HandDescriptionError(f"hand group {entry.get('name')!r}: unknown fields "
                                           f"{unknown}, missing fields {missing}")
            joints = entry["joints"]
            if not isinstance(joints, (list, tuple)):
                raise HandDescriptionError(f"hand group {entry['name']!r}: joints must be a list")
            parsed.append(JointGroup(entry["name"], tuple(joints), entry["device"],
                                     entry["representation"], entry.get("kinematics") or None))
        values = dict(data)
        values["groups"] = tuple(parsed)
        for name in ("joint_names", "object_names", "cameras"):
            if name in values and not isinstance(values[name], (list, tuple)):
                raise HandDescriptionError(f"hand {name} must be a list of names, got {values[name]!r}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "HandDescription":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise HandDescriptionError(f"hand description is not valid JSON: {error}") from None
        return cls.from_dict(data)

    # ---- flat ROS 2 parameters ------------------------------------------------------------
    def to_parameters(self) -> dict:
        """{"hand.<field>": value}: ROS 2 parameter types only (see the module docstring)."""
        out = {}
        for f in fields(self):
            if f.name == "groups":
                continue
            value = getattr(self, f.name)
            out[PARAMETER_PREFIX + f.name] = list(value) if isinstance(value, tuple) else value
        out[PARAMETER_PREFIX + "group_names"] = [g.name for g in self.groups]
        for g in self.groups:
            base = f"{PARAMETER_PREFIX}groups.{g.name}."
            out[base + "joints"] = list(g.joints)
            out[base + "device"] = g.device
            out[base + "representation"] = g.representation
            out[base + "kinematics"] = g.kinematics or ""
        return out

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any]) -> "HandDescription":
        """The inverse of `to_parameters` (keys with or without the "hand." prefix)."""
        flat = {k[len(PARAMETER_PREFIX):] if k.startswith(PARAMETER_PREFIX) else k: v
                for k, v in values.items()}
        return cls.from_dict(_unflatten(flat, where="hand parameters"))

    def parameters_yaml(self) -> str:
        """The `hand:` block of a ROS 2 parameters file (nested keys = the flat parameters)."""
        block = {k: v for k, v in self.to_dict().items() if k != "groups"}
        block["group_names"] = [g.name for g in self.groups]
        block["groups"] = {g.name: dict(joints=list(g.joints), device=g.device,
                                        representation=g.representation,
                                        kinematics=g.kinematics or "") for g in self.groups}
        return yaml.safe_dump({"hand": block}, sort_keys=False, default_flow_style=None, width=100)


def _check_names(field: str, names, non_empty: bool = False) -> None:
    if not all(isinstance(n, str) and n for n in names):
        raise HandDescriptionError(f"hand {field} must be non-empty strings, got {list(names)!r}")
    if non_empty and not names:
        raise HandDescriptionError(f"hand {field} must not be empty")
    twice = sorted({n for n in names if list(names).count(n) > 1})
    if twice:
        raise HandDescriptionError(f"hand {field} lists {twice} twice")


def _unflatten(flat: Mapping[str, Any], where: str) -> dict:
    """{"group_names": [...], "groups.<g>.<key>": v, "<field>": v} -> from_dict's input;
    also accepts "groups" already nested as {<g>: {...}} (a YAML block)."""
    data: dict[str, Any] = {}
    nested: dict[str, dict] = {}
    for key, value in flat.items():
        if key.startswith("groups."):
            group, _, sub = key[len("groups."):].rpartition(".")
            nested.setdefault(group, {})[sub] = value
        elif key == "groups" and isinstance(value, Mapping):
            for group, entry in value.items():
                if not isinstance(entry, Mapping):
                    raise HandDescriptionError(f"{where}: groups.{group} must be a mapping")
                nested.setdefault(str(group), {}).update(entry)
        else:
            data[key] = value
    order = data.pop("group_names", None)
    if order is None:
        raise HandDescriptionError(f"{where}: group_names is missing (the order of the groups)")
    if not isinstance(order, (list, tuple)):
        raise HandDescriptionError(f"{where}: group_names must be a list, got {order!r}")
    extra = sorted(set(nested) - set(order))
    if extra:
        raise HandDescriptionError(f"{where}: groups {extra} are not in group_names {list(order)}")
    absent = [g for g in order if g not in nested]
    if absent:
        raise HandDescriptionError(f"{where}: group_names lists {absent}, which have no "
                                   "groups.<name>.joints / device / representation")
    data["groups"] = [dict(name=g, **nested[g]) for g in order]
    return data


def load_hand_file(path: Path | str) -> HandDescription:
    """A hand description from YAML: a document with a top-level `hand:` block, or a ROS 2
    parameters file whose `/**: ros__parameters:` section holds `hand:` (the graph's file)."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise HandDescriptionError(f"{path}: cannot read the hand description: {error}") from None
    except yaml.YAMLError as error:
        raise HandDescriptionError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, Mapping):
        raise HandDescriptionError(f"{path}: expected a mapping with a 'hand:' block")
    block = document.get("hand")
    if block is None:
        section = document.get("/**")
        params = section.get("ros__parameters") if isinstance(section, Mapping) else None
        block = params.get("hand") if isinstance(params, Mapping) else None
    if not isinstance(block, Mapping):
        raise HandDescriptionError(f"{path}: no 'hand:' block (top level, or under "
                                   "'/**: ros__parameters:')")
    try:
        if "group_names" in block:
            return HandDescription.from_dict(_unflatten(dict(block), where=f"{path}: hand"))
        return HandDescription.from_dict(block)
    except HandDescriptionError as error:
        raise HandDescriptionError(f"{path}: {error}") from None
