"""`ros2 run dexpie_learning train <what>` (also `dexpie-train` in the venv): offline training
from folders of episode bags. Each subcommand writes a self-describing checkpoint folder.

    dexpie-train bc --demos runs/latest/demos/relocate --out runs/latest/policies/relocate_bc
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from dexpie_learning.datasets import DatasetError
from dexpie_learning.train.bc import BCConfig, train_bc


def _bc_parser(sub) -> None:
    p = sub.add_parser("bc", help="behaviour cloning (the reference policy) from demonstration bags")
    p.add_argument("--demos", type=Path, nargs="+", required=True, help="folders of episode bags")
    p.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    defaults = BCConfig()
    for name in ("horizon", "steps", "batch_size", "seed", "hidden_size", "num_layers", "max_delay_steps"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    p.add_argument("--arm-representation", default=defaults.arm_representation)
    p.add_argument("--finger-representation", default=defaults.finger_representation)
    p.add_argument("--no-object-state", action="store_true", help="proprioception (+ images) only")
    p.add_argument("--camera", action="append", default=[], help="train on images of this camera")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="train", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _bc_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "bc":
            config = BCConfig(horizon=args.horizon, steps=args.steps, batch_size=args.batch_size,
                              learning_rate=args.learning_rate, seed=args.seed,
                              hidden_size=args.hidden_size, num_layers=args.num_layers,
                              max_delay_steps=args.max_delay_steps,
                              arm_representation=args.arm_representation,
                              finger_representation=args.finger_representation,
                              use_object_state=not args.no_object_state, cameras=tuple(args.camera))
            result = train_bc(args.demos, args.out, config)
            print(f"trained BC on {result.episodes} episodes ({result.samples} samples) in "
                  f"{result.seconds:.0f} s; final loss {sum(result.losses[-100:]) / len(result.losses[-100:]):.4f}")
            if result.skipped_bags:
                print(f"skipped {len(result.skipped_bags)} unreadable bags (see training.json)")
            print(f"checkpoint: {result.checkpoint}   loss curve: {result.checkpoint / 'loss.png'}")
    except (ValueError, DatasetError) as error:
        parser.exit(2, f"train {args.command}: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
