"""Self-describing policy directories (safetensors + JSON only; never pickle).

    <dir>/config.json          {"format_version", "policy_type", "config": FlowPolicyConfig}
    <dir>/model.safetensors    the state dict
    <dir>/normalization.json   NormalizationStats.to_dict()
    <dir>/action_spec.json     ActionSpec.to_dict() (groups, representations, joints, kinematics)
    <dir>/hand.json            HandDescription.to_dict(): the hand the data came from (joints,
                               device groups, limits, rate, step limit); absent in checkpoints
                               written before hand descriptions existed

Loading checks everything against a freshly built model before any weight is used, and every
error names the file, key or tensor at fault. The three files every checkpoint folder has
(config, weights, normalisation) are written and checked by dexpie_policy.checkpoint_io's
CheckpointFolder, shared with the critic.
"""
from __future__ import annotations

from pathlib import Path

import torch

from dexpie_common.hand import HandDescription, HandDescriptionError
from dexpie_policy.actions import ActionSpec, ActionSpecError
from dexpie_policy.flow import POLICY_TYPE, FlowMatchingPolicy, FlowPolicyConfig
from dexpie_policy.checkpoint_io import (CONFIG_FILE, NORMALIZATION_FILE,  # noqa: F401
                                         WEIGHTS_FILE, CheckpointFolder, write_json)
from dexpie_policy.normalization import NormalizationError, NormalizationStats

FORMAT_VERSION = 1
ACTION_SPEC_FILE = "action_spec.json"
HAND_FILE = "hand.json"


class CheckpointError(ValueError):
    """A policy directory that cannot be loaded; the message names the file and the problem."""


POLICY_FOLDER = CheckpointFolder(kind="policy", type_key="policy_type", type_name=POLICY_TYPE,
                                 error=CheckpointError, format_version=FORMAT_VERSION)


def check_compatible(config: FlowPolicyConfig, stats: NormalizationStats,
                     spec: ActionSpec) -> None:
    """The three parts of a policy must describe the same robot and features."""
    stats.validate(config.feature_shapes())
    if spec.action_dim != config.action_dim:
        raise CheckpointError(f"action spec encodes {spec.action_dim} action dims, the model "
                              f"config has action_dim={config.action_dim}")
    if spec.num_joints != config.state_dim:
        # The proprioceptive observation is the joint position vector in spec joint order.
        raise CheckpointError(f"action spec names {spec.num_joints} joints, the model config "
                              f"has state_dim={config.state_dim}")


def save_policy(directory: str | Path, model: FlowMatchingPolicy, stats: NormalizationStats,
                spec: ActionSpec, hand: HandDescription | None = None) -> Path:
    """Write the files (directory created if needed; hand.json when `hand` is given);
    returns the directory."""
    check_compatible(model.config, stats, spec)
    if hand is not None and hand.joint_names != spec.joint_names:
        raise CheckpointError(f"the hand description's joints {list(hand.joint_names)} are not "
                              f"the action spec's {list(spec.joint_names)}")
    directory = POLICY_FOLDER.write(directory, model, model.config.to_dict(), stats)
    write_json(directory / ACTION_SPEC_FILE, spec.to_dict())
    if hand is not None:
        write_json(directory / HAND_FILE, hand.to_dict())
    return directory


def load_hand(directory: str | Path, spec: ActionSpec | None = None) -> HandDescription | None:
    """The checkpoint's hand description (None for a checkpoint written without one),
    validated, and checked against `spec`'s joints when given."""
    path = Path(directory) / HAND_FILE
    if not path.exists():
        return None
    try:
        hand = HandDescription.from_dict(POLICY_FOLDER.read_json(path))
    except HandDescriptionError as error:
        raise CheckpointError(f"{HAND_FILE}: {error}") from None
    if spec is not None and hand.joint_names != spec.joint_names:
        raise CheckpointError(f"{HAND_FILE} vs {ACTION_SPEC_FILE}: the hand names joints "
                              f"{list(hand.joint_names)}, the action spec {list(spec.joint_names)}")
    return hand


def load_policy(directory: str | Path, device: str | torch.device = "cpu"
                ) -> tuple[FlowMatchingPolicy, NormalizationStats, ActionSpec]:
    """Read and validate a policy directory -> (model in eval mode, stats, spec)."""
    directory = POLICY_FOLDER.existing_directory(directory)
    config = POLICY_FOLDER.read_config(POLICY_FOLDER.read_header(directory), FlowPolicyConfig)
    stats = POLICY_FOLDER.read_stats(directory)
    try:
        spec = ActionSpec.from_dict(POLICY_FOLDER.read_json(directory / ACTION_SPEC_FILE))
    except (ActionSpecError, KeyError, TypeError) as error:
        raise CheckpointError(f"{ACTION_SPEC_FILE}: {error}") from None
    try:
        check_compatible(config, stats, spec)
    except NormalizationError as error:
        raise CheckpointError(f"{NORMALIZATION_FILE}: {error}") from None
    except CheckpointError as error:
        raise CheckpointError(f"{ACTION_SPEC_FILE} vs {CONFIG_FILE}: {error}") from None

    model = FlowMatchingPolicy(config)
    POLICY_FOLDER.load_weights(model, directory, "model")
    return model.to(device).eval(), stats, spec
