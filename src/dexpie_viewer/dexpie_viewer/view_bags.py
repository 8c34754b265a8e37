"""`dexpie-view <episode bag or folder of bags>`: recorded episodes in the browser, with the
same panels as the live view (`viewer:=true`). No ROS needed (the bags are read with
dexpie_episode's reader).

    dexpie-view runs/graph_episodes                 # serve on 127.0.0.1, print the URL, Ctrl-C to stop
    dexpie-view runs/graph_episodes/<episode>       # one episode
    dexpie-view runs/graph_episodes --save out/     # write <episode>.rrd files instead (`rerun out/x.rrd`)

Each episode is its own recording (the viewer's "Sources" list, named by episode id).
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from dexpie_viewer.rerun_sink import (
    DEFAULT_BIND, DEFAULT_GRPC_PORT, DEFAULT_WEB_PORT, RerunServer, RerunSink, ViewerServerError, blueprint,
    new_recording)
from dexpie_viewer.streams import (
    EVENT_END, EVENT_STAGE, EVENT_START, OUTCOME_NAMES, Record, ViewerStreams, plotted_joints)


def episode_records(episode, joints) -> tuple[ViewerStreams, list[Record]]:
    """Everything the viewer shows of one recorded episode (a dexpie_episode.Episode), in time
    order of the ticks, as the live view would have shown it."""
    meta = episode.meta
    streams = ViewerStreams(joints, meta.control_dt)
    names = list(meta.joint_names)
    stamps = [int(s) for s in episode.stamp_ns]
    records = streams.episode_event(stamps[0], EVENT_START, episode.episode_id, meta.task, meta.stage)
    stages = {}
    for tick, stage in episode.stages:
        stages.setdefault(int(tick), []).append(stage)
    chunks = sorted(episode.chunks, key=lambda c: c.stamp_ns)
    next_chunk = 0
    for t, stamp in enumerate(stamps):
        while next_chunk < len(chunks) and chunks[next_chunk].tick <= t:
            c = chunks[next_chunk]
            records += streams.action_chunk(c.stamp_ns, c.observation_stamp_ns, list(c.joint_names),
                                            c.targets, c.start_index)
            next_chunk += 1
        records += streams.joint_state(stamp, names, episode.joint_positions[t])
        records += streams.command(stamp, names, episode.command[t])
        records += streams.intervention(stamp, int(episode.source[t]), int(episode.edge[t]),
                                        int(episode.reason[t]), int(episode.intervention_id[t]))
        for camera, images in episode.images.items():
            records += streams.image(stamp, camera, images[t])
        for stage in stages.get(t, ()):
            records += streams.episode_event(stamp, EVENT_STAGE, episode.episode_id, meta.task, stage)
    for c in chunks[next_chunk:]:
        records += streams.action_chunk(c.stamp_ns, c.observation_stamp_ns, list(c.joint_names),
                                        c.targets, c.start_index)
    records += streams.episode_event(stamps[-1], EVENT_END, episode.episode_id, meta.task,
                                     outcome=int(episode.outcome))
    return streams, records


def read_episodes(path: Path):
    """(episodes, problems) of one bag folder or of a folder of bags."""
    from dexpie_episode import read_episode
    from dexpie_episode.loader import episode_dirs
    from dexpie_episode.reader import EpisodeFormatError
    paths = [path] if (path / "metadata.yaml").is_file() else episode_dirs(path)
    episodes, problems = [], []
    for bag in paths:
        try:
            episodes.append(read_episode(bag))
        except EpisodeFormatError as error:
            problems.append(f"{bag}: {error}")
    return episodes, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dexpie-view", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="an episode bag folder, or a folder of them")
    parser.add_argument("--bind", default=DEFAULT_BIND,
                        help="address to serve on (default 127.0.0.1: this host only; 0.0.0.0: every interface)")
    parser.add_argument("--web-port", type=int, default=DEFAULT_WEB_PORT)
    parser.add_argument("--grpc-port", type=int, default=DEFAULT_GRPC_PORT)
    parser.add_argument("--plot-joints", default="", help="comma-separated joints to plot (default: four)")
    parser.add_argument("--save", type=Path, default=None,
                        help="write <episode id>.rrd files into this folder instead of serving")
    args = parser.parse_args(argv)
    if not args.path.exists():
        parser.error(f"{args.path} does not exist")
    episodes, problems = read_episodes(args.path)
    for problem in problems:
        print(f"[dexpie-view] skipped {problem}", file=sys.stderr)
    if not episodes:
        print(f"[dexpie-view] no readable episode in {args.path}", file=sys.stderr)
        return 1
    requested = [name for name in args.plot_joints.split(",") if name]
    server = None
    if args.save is None:
        try:
            server = RerunServer(args.bind, args.web_port, args.grpc_port)
        except (ViewerServerError, OSError) as error:
            print(f"[dexpie-view] {error}", file=sys.stderr)
            return 1
    else:
        args.save.mkdir(parents=True, exist_ok=True)
    recordings = []
    try:
        for episode in episodes:
            try:
                joints = plotted_joints(episode.meta.joint_names, requested)
            except ValueError as error:
                parser.error(str(error))
            layout = blueprint(joints, episode.meta.cameras)
            recording = new_recording(episode.episode_id)
            if server is None:
                recording.save(args.save / f"{episode.episode_id}.rrd", default_blueprint=layout)
            else:
                recording.connect_grpc(server.grpc_url, default_blueprint=layout)
            sink = RerunSink(recording, joints)
            streams, records = episode_records(episode, joints)
            sink.log(records)
            recording.flush()
            recordings.append(recording)
            print(f"[dexpie-view] {episode.episode_id}: {episode.num_ticks} ticks, {streams.counters.chunks} "
                  f"chunks, {streams.counters.edges} control edges, outcome "
                  f"{OUTCOME_NAMES.get(int(episode.outcome), episode.outcome)}")
        if server is None:
            for recording in recordings:
                recording.disconnect()
            print(f"[dexpie-view] wrote {len(recordings)} recording(s) to {args.save}")
            return 0
        print(f"[dexpie-view] open {server.url}   (Ctrl-C to stop)", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        return 0
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    sys.exit(main())
