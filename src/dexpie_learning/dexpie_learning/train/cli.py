"""`ros2 run dexpie_learning train <what>` (also `dexpie-train` in the venv): offline training
from folders of episode bags. Each subcommand writes a self-describing output folder.

    dexpie-train bc --demos runs/demos --out runs/policies/bc
    dexpie-train critic --demos runs/demos --rollouts runs/rollouts --out runs/critic
    dexpie-train label --demos runs/demos --rollouts runs/rollouts --critic runs/critic \\
        --labels runs/rollouts
    dexpie-train policy --demos runs/demos --rollouts runs/rollouts --labels runs/rollouts \\
        --out runs/policies/dexpie
    dexpie-train hg-dagger | iwr | filtered-bc --demos ... --rollouts ... --out ...
    dexpie-train awr | binary-indicator --demos ... --rollouts ... --labels ... --out ...

Settings: defaults <- `--config file.yaml|json` <- `--<field> value` options; validated at
start (a bad value or an unknown key is named), and so is the output folder (a file there, a
folder that cannot be written, a full disk: one line, before any work). Policy training resumes automatically from
<out>/train_state when its config and data match (`--resume` insists, `--restart` ignores).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import typing
from pathlib import Path

from dexpie_common.hand import load_hand_file
from dexpie_common.output_paths import check_output_folder
from dexpie_learning.critic import CriticCheckpointError
from dexpie_learning.datasets import DatasetError
from dexpie_learning.labels import LabelStoreError
from dexpie_learning.train.config import load_config
from dexpie_learning.train.critic_label import (DEFAULT_LABEL_SET, CriticTrainConfig,
                                                LabelConfig, label_episodes, train_critics)
from dexpie_learning.train.methods import LABELLED_METHODS, POLICY_METHODS, train_method
from dexpie_policy.checkpoint import CheckpointError

HELP = {"bc": "behaviour cloning (the reference policy) on demonstrations",
        "hg-dagger": "BC on demos + the human-operated ticks of rollouts",
        "hg-dagger-success": "HG-DAgger on the successful episodes only (demos + the human "
                             "ticks of rollouts that succeeded)",
        "iwr": "intervention-weighted BC (human and policy samples balanced)",
        "filtered-bc": "BC on successful episodes only",
        "awr": "advantage-weighted regression (needs --labels)",
        "binary-indicator": "RECAP-style policy conditioned on a binary indicator (--labels)",
        "policy": "the DexPIE continuous-indicator policy (needs --labels)",
        "critic": "cross-fitted distributional critics",
        "label": "advantages + indicators stored with the dataset (needs --critic)"}


def _add_config_options(parser: argparse.ArgumentParser, config_class) -> list[str]:
    """One `--field-name` option per config field (default None = keep file/default)."""
    hints = typing.get_type_hints(config_class)
    names = []
    group = parser.add_argument_group(f"{config_class.__name__} fields (override --config)")
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        default = f"(default {field.default!r})"
        if kind is bool:
            group.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction,
                               default=None, help=default)
        elif kind in (int, float, str):
            group.add_argument(flag, dest=field.name, type=kind, default=None, help=default)
        else:
            group.add_argument(flag, dest=field.name, nargs="*", default=None, help=default)
        names.append(field.name)
    return names


def _data_options(parser, out_help: str = "output folder") -> None:
    parser.add_argument("--demos", type=Path, nargs="+", default=[],
                        help="folders of demonstration bags")
    parser.add_argument("--rollouts", type=Path, nargs="+", default=[],
                        help="folders of rollout bags (with interventions)")
    parser.add_argument("--hand", type=Path, help="hand description for bags recorded "
                        "without one: a YAML file with a 'hand:' block, or the graph's ROS 2 "
                        "parameters file (its '/**' section's hand.*), see "
                        "config/robot_template.yaml")
    parser.add_argument("--config", type=Path, help="YAML or JSON file of config fields")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    if out_help:
        parser.add_argument("--out", type=Path, required=True, help=out_help)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, list[str]]]:
    parser = argparse.ArgumentParser(prog="train", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fields = {}
    for method, config_class in POLICY_METHODS.items():
        p = sub.add_parser(method, help=HELP[method])
        _data_options(p, "checkpoint folder to write")
        if method in LABELLED_METHODS:
            p.add_argument("--labels", type=Path, required=True,
                           help="dataset folder holding labels/<label-set>.* (train label)")
            p.add_argument("--label-set", default=DEFAULT_LABEL_SET)
        resume = p.add_mutually_exclusive_group()
        resume.add_argument("--resume", action="store_true",
                            help="continue from <out>/train_state (error if none matches)")
        resume.add_argument("--restart", action="store_true", help="ignore <out>/train_state")
        p.add_argument("--stop-after", type=int, help="stop (and save the state) at this step")
        p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
        # Kept from the first CLI: --no-object-state and repeated --camera.
        p.add_argument("--no-object-state", dest="use_object_state", action="store_false",
                       default=None, help="proprioception (+ images) only")
        p.add_argument("--camera", action="append", default=[],
                       help="train on images of this camera (repeatable)")
        fields[method] = _add_config_options(p, config_class)
    p = sub.add_parser("critic", help=HELP["critic"])
    _data_options(p, "folder for critic_0/, critic_1/ and diagnostics")
    fields["critic"] = _add_config_options(p, CriticTrainConfig)
    p = sub.add_parser("label", help=HELP["label"])
    _data_options(p, "")
    p.add_argument("--critic", type=Path, required=True, help="output folder of train critic")
    p.add_argument("--labels", type=Path, required=True,
                   help="dataset folder to store labels/<label-set>.* in")
    p.add_argument("--label-set", default=DEFAULT_LABEL_SET)
    fields["label"] = _add_config_options(p, LabelConfig)
    return parser, fields


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser, fields = build_parser()
    args = parser.parse_args(argv)
    command = args.command
    overrides = {name: getattr(args, name) for name in fields[command]}
    if getattr(args, "camera", None):
        overrides["cameras"] = tuple(args.camera) + tuple(overrides.get("cameras") or ())
    if overrides.get("cameras") is not None:
        overrides["cameras"] = tuple(overrides["cameras"])
    progress = not args.quiet
    try:
        # Where the results go is checked before any data is read or step trained.
        if getattr(args, "out", None) is not None:
            check_output_folder(args.out, "--out")
        if command == "label":
            check_output_folder(args.labels, "--labels")
        hand = None if args.hand is None else load_hand_file(args.hand)
        if command == "critic":
            config = load_config(CriticTrainConfig, args.config, overrides)
            summary = train_critics(config, args.out, args.demos, args.rollouts, progress,
                                    hand=hand)
            diag = summary["diagnostics"]
            print(f"trained 2 cross-fitted critics on {summary['episodes']} episodes in "
                  f"{summary['seconds']:.0f} s; held-out ranking accuracy "
                  f"{diag['ranking_accuracy']:.3f} ({diag['ranking_pairs']} pairs)")
            print(f"critics: {args.out}/critic_0, critic_1   values: {args.out}/values.png")
        elif command == "label":
            config = load_config(LabelConfig, args.config, overrides)
            summary = label_episodes(args.critic, args.labels, args.label_set, config,
                                     args.demos, args.rollouts, progress, hand=hand)
            print(f"labelled {summary['episodes']} episodes "
                  f"({len(summary['not_cross_fitted'])} not cross-fitted); "
                  f"q_0.6={summary['indicator']['q_low']:.4f} "
                  f"q_0.8={summary['indicator']['q_high']:.4f}; labels: {summary['labels']}")
        else:
            config = load_config(POLICY_METHODS[command], args.config, overrides)
            resume = "always" if args.resume else "never" if args.restart else "auto"
            result = train_method(command, config, args.out, args.demos, args.rollouts,
                                  labels_dir=getattr(args, "labels", None),
                                  label_set=getattr(args, "label_set", DEFAULT_LABEL_SET),
                                  progress=progress, resume=resume, stop_after=args.stop_after,
                                  torch_threads=args.threads, hand=hand)
            tail = result.losses[-100:]
            print(f"trained {command} on {result.episodes} episodes ({result.samples} samples, "
                  f"{result.human_effort['human_steps']} human steps) in {result.seconds:.0f} s"
                  + (f" (resumed at step {result.resumed_from})" if result.resumed_from else "")
                  + (f"; final loss {sum(tail) / len(tail):.4f}" if tail else ""))
            print(f"checkpoint: {result.checkpoint}   loss curve: {result.checkpoint / 'loss.png'}")
        skipped = summary["skipped_bags"] if command in ("critic", "label") else \
            result.skipped_bags
        if skipped:
            print(f"skipped {len(skipped)} unreadable bags: " + "; ".join(skipped))
    except (ValueError, DatasetError, LabelStoreError, CheckpointError,
            CriticCheckpointError, KeyError) as error:
        parser.exit(2, f"train {command}: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
