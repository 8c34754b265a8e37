"""`dexpie-bags` (also `ros2 run dexpie_episode dexpie-bags`): episode bags from your own
recordings, and labels after the fact. Needs no ROS install.

    dexpie-bags import my_recording/ --out demos/ --hand my_robot.yaml --task cup_flip \\
        --outcome success --source human            # a demonstration recorded with ros2 bag record
    dexpie-bags set-outcome demos/<episode> --outcome failure --reason "dropped after the end"

`import` resamples /joint_states (any rate, any joint order, any number of publishers) and the
command topic to the hand's control ticks (see dexpie_episode/importer.py and
docs/episode_format.md); `--hand` is a hand YAML or the graph's parameters file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dexpie_common import topics
from dexpie_common.hand import HandDescriptionError, load_hand_file

from .importer import BagImportError, ImportLabels, ImportTopics, import_plain_bag
from .outcome import OUTCOME_BY_NAME, outcome_from_name, set_episode_outcome
from .reader import read_episode
from .schema import OUTCOME_NAMES, EpisodeFormatError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dexpie-bags", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import", help="plain rosbag2 recordings + labels -> episode bags")
    p.add_argument("bags", type=Path, nargs="+", help="rosbag2 folders (one episode each)")
    p.add_argument("--out", type=Path, required=True, help="episode folder to write into")
    p.add_argument("--hand", type=Path, required=True,
                   help="hand description: a YAML 'hand:' block or the graph's parameters file")
    p.add_argument("--task", required=True)
    p.add_argument("--outcome", required=True, choices=list(OUTCOME_BY_NAME))
    p.add_argument("--stage", default="init", help="the stage the episode starts from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--source", choices=["human", "policy"], default="policy",
                   help="who commanded the hand where the bag has no /intervention/state "
                        "(human: a demonstration)")
    p.add_argument("--joint-states-topic", default=topics.JOINT_STATES)
    p.add_argument("--command-topic", default=topics.HAND_COMMAND,
                   help="JointState (named joints) or Float64MultiArray (hand joint order), "
                        f"e.g. {topics.HAND_CONTROLLER_COMMANDS}")
    p.add_argument("--intervention-topic", default=topics.INTERVENTION_STATE)
    p.add_argument("--object-topic", default="",
                   help="JointState topic of the object state (names = hand.object_names)")
    p = sub.add_parser("set-outcome", help="set or correct the outcome of recorded episodes")
    p.add_argument("episodes", type=Path, nargs="+", help="episode bag folders")
    p.add_argument("--outcome", required=True, choices=list(OUTCOME_BY_NAME))
    p.add_argument("--reason", default="", help="why (kept in the bag's metadata)")
    p = sub.add_parser("import-lerobot", help="a LeRobotDataset (v3.0) of the hand -> "
                                              "episode bags")
    p.add_argument("dataset", type=Path, help="the LeRobotDataset folder (meta/info.json)")
    p.add_argument("--out", type=Path, required=True, help="episode folder to write into")
    p.add_argument("--hand", type=Path, required=True,
                   help="hand description: a YAML 'hand:' block or the graph's parameters file")
    p.add_argument("--outcome", choices=list(OUTCOME_BY_NAME), default=None,
                   help="for datasets without an outcome column (default: from next.success)")
    p.add_argument("--source", choices=["human", "policy"], default="policy",
                   help="who commanded the hand where the dataset has no intervention column")
    p.add_argument("--stage", default="init")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "import":
            hand = load_hand_file(args.hand)
            labels = ImportLabels(task=args.task, outcome=outcome_from_name(args.outcome),
                                  stage=args.stage, seed=args.seed, source=args.source)
            bag_topics = ImportTopics(args.joint_states_topic, args.command_topic,
                                      args.intervention_topic, args.object_topic)
            for bag in args.bags:
                path = import_plain_bag(bag, args.out, hand, labels, bag_topics)
                episode = read_episode(path)
                print(f"{bag} -> {path} ({episode.num_ticks} ticks at {hand.control_rate_hz} Hz, "
                      f"{int(episode.intervention.sum())} human)")
        elif args.command == "import-lerobot":
            from .lerobot_import import import_lerobot
            outcome = None if args.outcome is None else outcome_from_name(args.outcome)
            paths = import_lerobot(args.dataset, args.out, load_hand_file(args.hand),
                                   outcome=outcome, source=args.source, stage=args.stage)
            print(f"{args.dataset} -> {len(paths)} episodes in {args.out}")
        else:
            for path in args.episodes:
                episode = set_episode_outcome(path, outcome_from_name(args.outcome), args.reason)
                print(f"{path}: outcome {OUTCOME_NAMES[episode.outcome]}")
    except (BagImportError, EpisodeFormatError, HandDescriptionError, ValueError, OSError) as error:
        parser.exit(2, f"dexpie-bags {args.command}: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
