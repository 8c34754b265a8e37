"""Bag -> training tensors throughput, as a ratio to raw rosbags reading of the same bags.

Pipeline (what `train` does before the first optimisation step): `load_episodes` (validate
and align every stream of every bag) + `to_episode_arrays` + `ChunkDataset` (relative
chunks, H = 16, padding, per-sample weights) + normalisation statistics.
Reference: rosbags' AnyReader iterating and deserialising every message of the same bags
(no alignment, no arrays). Both are timed in the same run, alternating, best of `--repeats`;
goal: pipeline throughput >= 0.5 x raw. Bags: operator demonstrations of the relocate task
recorded in the twin (proprioception + object state, no cameras: the default policy input).

    .venv/bin/python benchmarks/bag_to_tensor_throughput.py [--episodes 8] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from rosbags.highlevel import AnyReader

from dexpie_learning.datasets import to_episode_arrays
from dexpie_episode import episode_dirs, episode_typestore, load_episodes
from dexpie_experiment.sim_collection import record_operator_demo
from dexpie_learning.train.config import PolicyTrainConfig
from dexpie_learning.train.methods import action_spec_for
from dexpie_policy.chunk_dataset import ChunkDataset
from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.stages import StageLibrary


def record(folder: Path, episodes: int) -> None:
    task = make_task("relocate")
    library = StageLibrary(task, make_operator("relocate", task, seed=0))
    operator = make_operator("relocate", task, seed=1)
    for seed in range(episodes):
        record_operator_demo(library, operator, seed, folder)


def raw_read(folder: Path) -> int:
    """Iterate and deserialise every message of every bag; returns the message count."""
    typestore = episode_typestore()
    count = 0
    for bag in episode_dirs(folder):
        with AnyReader([bag], default_typestore=typestore) as reader:
            for connection, _, raw in reader.messages():
                reader.deserialize(raw, connection.msgtype)
                count += 1
    return count


def pipeline(folder: Path) -> tuple[int, int]:
    """Bags -> ChunkDataset (+ stats); returns (episodes, samples)."""
    episodes, errors = load_episodes(folder, progress=False)
    assert not errors, errors
    config = PolicyTrainConfig()
    spec = action_spec_for(episodes[0].task, episodes[0].joint_names, config)
    arrays = [to_episode_arrays(e, config.use_object_state) for e in episodes]
    dataset = ChunkDataset(arrays, spec, config.horizon)
    dataset.stats  # noqa: B018 (computed once per dataset, part of the cost)
    return len(episodes), len(dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/bag_to_tensor_throughput.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "demos"
        record(folder, args.episodes)
        bag_bytes = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        raw_times, pipe_times = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            messages = raw_read(folder)
            raw_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            episodes, samples = pipeline(folder)
            pipe_times.append(time.perf_counter() - start)
    raw_s, pipe_s = min(raw_times), min(pipe_times)
    result = dict(
        episodes=episodes, samples=samples, messages=messages, bag_megabytes=bag_bytes / 1e6,
        raw_rosbags_seconds=raw_s, pipeline_seconds=pipe_s,
        raw_episodes_per_s=episodes / raw_s, raw_messages_per_s=messages / raw_s,
        pipeline_episodes_per_s=episodes / pipe_s, pipeline_samples_per_s=samples / pipe_s,
        ratio_pipeline_to_raw=raw_s / pipe_s, goal_ratio=0.5,
        all_raw_seconds=raw_times, all_pipeline_seconds=pipe_times, repeats=args.repeats,
        load_average_before=load_before, load_average_after=os.getloadavg(),
        cpu_count=os.cpu_count())
    print(f"{episodes} bags, {samples} samples, {messages} messages, "
          f"{bag_bytes / 1e6:.1f} MB (best of {args.repeats})")
    print(f"raw rosbags read+deserialise: {raw_s:.3f} s = {episodes / raw_s:.1f} episodes/s, "
          f"{messages / raw_s:.0f} messages/s")
    print(f"bags -> training tensors:     {pipe_s:.3f} s = {episodes / pipe_s:.1f} episodes/s, "
          f"{samples / pipe_s:.0f} samples/s")
    print(f"ratio pipeline / raw: {raw_s / pipe_s:.2f} (goal >= 0.5); load average "
          f"{load_before[0]:.2f} -> {result['load_average_after'][0]:.2f} on "
          f"{os.cpu_count()} cores")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
