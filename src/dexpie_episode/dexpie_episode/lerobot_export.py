"""Episode bags -> a LeRobotDataset (format v3.0, as read by lerobot 0.4.x), without lerobot.

    dexpie-episodes export-lerobot runs/demos runs/rollouts --out exports/relocate \\
        [--labels runs/rollouts --label-set dexpie] [--camera-format video|image]

Written with pyarrow (and PyAV for camera videos, Pillow for camera images); lerobot is not
needed to export, only to read. The arrays are the ones training uses (`read_episode`'s
`Episode`: joint positions, commanded targets, object state, camera frames, the per-tick
intervention flag `source == human`), one frame per control tick:

    <out>/meta/info.json                       codebase_version "v3.0", fps, features, and a
                                               "dexpie" block (joints, objects, hand, source)
    <out>/meta/stats.json                      min/max/mean/std/count/q01..q99 per feature
    <out>/meta/tasks.parquet                   task string (index) -> task_index
    <out>/meta/episodes/chunk-000/file-000.parquet   one row per episode: length, tasks, where
                                               its frames/videos are, stats/*, dexpie/* (id,
                                               outcome, start stage, seed, bag path)
    <out>/data/chunk-000/file-NNN.parquet      one row per tick (files roll over at ~100 MB)
    <out>/videos/observation.images.<camera>/chunk-000/file-NNN.mp4   one file per episode

Frame features: observation.state (joint positions), action (the commanded targets sent to
the hand), observation.environment_state (object state, when recorded), intervention (bool,
the human commanded the tick), optimality (float, when labels are given; NaN for an episode
the labels do not cover), outcome (int: 1 success, 2 failure, 3 aborted), stage (the last
stage reached at or before the tick; the start stage before any), next.done / next.success
(last tick), observation.images.<camera> (video or image), and lerobot's timestamp,
frame_index, episode_index, index, task_index.

Pure core: numpy, pyarrow; no rclpy, no lerobot, no dexpie_learning (labels are passed in as
arrays; `dexpie-episodes` reads them with dexpie_learning's label store when --labels is given).
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .loader import load_episodes
from .schema import OUTCOME_NAMES, OUTCOME_SUCCESS, Episode, EpisodeFormatError

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk folder (lerobot's DEFAULT_CHUNK_SIZE)
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
CAMERA_FORMATS = ("video", "image")
IMAGE_KEY_PREFIX = "observation.images."
# lerobot's own encoder settings (LeRobotDataset.create / encode_video_frames).
DEFAULT_VCODEC = "libsvtav1"
VIDEO_PIX_FMT = "yuv420p"
VIDEO_GOP = 2
VIDEO_CRF = 30


class LeRobotExportError(ValueError):
    """Episodes that cannot be exported together, or an output folder in the way."""


@dataclass
class ExportSummary:
    out: Path
    episodes: int
    frames: int
    fps: float
    features: list[str]
    unlabelled: list[str] = field(default_factory=list)  # episode ids without labels


def _chunk_file(index: int) -> tuple[int, int]:
    return index // CHUNKS_SIZE, index % CHUNKS_SIZE


def _fps_of(episodes: Sequence[Episode]) -> float | int:
    dts = {round(e.control_dt, 12) for e in episodes}
    if len(dts) != 1:
        raise LeRobotExportError(f"episodes have different control rates (control_dt {sorted(dts)})"
                                 "; export them separately")
    fps = 1.0 / episodes[0].control_dt
    return int(round(fps)) if abs(fps - round(fps)) < 1e-6 * fps else fps


def check_exportable(episodes: Sequence[Episode], cameras: Sequence[str]) -> None:
    if not episodes:
        raise LeRobotExportError("no readable episodes to export")
    first = episodes[0]
    for episode in episodes[1:]:
        for what in ("joint_names", "object_names"):
            if getattr(episode, what) != getattr(first, what):
                raise LeRobotExportError(f"{episode.path}: {what} differ from {first.path}'s "
                                         "(one dataset, one feature layout)")
    ids = [e.episode_id for e in episodes]
    if len(set(ids)) != len(ids):
        raise LeRobotExportError(f"episode ids occur twice: "
                                 f"{sorted({i for i in ids if ids.count(i) > 1})}")
    for camera in cameras:
        shapes = set()
        for episode in episodes:
            if camera not in episode.images:
                raise LeRobotExportError(f"{episode.path}: has no images from camera {camera!r} "
                                         f"(recorded: {sorted(episode.images)})")
            shapes.add(tuple(episode.images[camera].shape[1:]))
        if len(shapes) != 1:
            raise LeRobotExportError(f"camera {camera!r}: image sizes differ between episodes "
                                     f"{sorted(shapes)}")


def stage_per_tick(episode: Episode) -> list[str]:
    """The last stage reached at or before each tick (the start stage before any)."""
    stages = [episode.stage] * episode.num_ticks
    for tick, name in sorted(episode.stages, key=lambda s: s[0]):
        for t in range(max(tick, 0), episode.num_ticks):
            stages[t] = name
    return stages


def _features(episodes: Sequence[Episode], cameras: Sequence[str], camera_format: str,
              labelled: bool) -> dict[str, dict]:
    first = episodes[0]
    joints = list(first.joint_names)
    features: dict[str, dict] = {
        "observation.state": {"dtype": "float32", "shape": [len(joints)], "names": joints},
        "action": {"dtype": "float32", "shape": [len(joints)], "names": joints},
    }
    if first.object_names and all(e.object_state is not None for e in episodes):
        features["observation.environment_state"] = {
            "dtype": "float32", "shape": [len(first.object_names)],
            "names": list(first.object_names)}
    for camera in cameras:
        h, w, c = first.images[camera].shape[1:]
        features[IMAGE_KEY_PREFIX + camera] = {
            "dtype": camera_format, "shape": [int(h), int(w), int(c)],
            "names": ["height", "width", "channels"]}
    features["intervention"] = {"dtype": "bool", "shape": [1], "names": None}
    if labelled:
        features["optimality"] = {"dtype": "float32", "shape": [1], "names": None}
    features["outcome"] = {"dtype": "int64", "shape": [1], "names": None}
    features["stage"] = {"dtype": "string", "shape": [1], "names": None}
    features["next.done"] = {"dtype": "bool", "shape": [1], "names": None}
    features["next.success"] = {"dtype": "bool", "shape": [1], "names": None}
    for name, dtype in (("timestamp", "float32"), ("frame_index", "int64"),
                        ("episode_index", "int64"), ("index", "int64"), ("task_index", "int64")):
        features[name] = {"dtype": dtype, "shape": [1], "names": None}
    return features


def _episode_columns(episode: Episode, episode_index: int, first_index: int, task_index: int,
                     fps: float, features: Mapping[str, dict],
                     optimality: np.ndarray | None) -> dict[str, np.ndarray | list]:
    """The frame columns of one episode (cameras excluded), as numpy arrays / lists."""
    T = episode.num_ticks
    frame_index = np.arange(T, dtype=np.int64)
    last = frame_index == T - 1
    columns: dict[str, np.ndarray | list] = {
        "observation.state": episode.joint_positions.astype(np.float32),
        "action": episode.command.astype(np.float32),
    }
    if "observation.environment_state" in features:
        columns["observation.environment_state"] = episode.object_state.astype(np.float32)
    columns["intervention"] = np.asarray(episode.intervention, dtype=bool)
    if "optimality" in features:
        columns["optimality"] = (np.full(T, np.nan, np.float32) if optimality is None
                                 else np.asarray(optimality, dtype=np.float32))
    columns["outcome"] = np.full(T, episode.outcome, np.int64)
    columns["stage"] = stage_per_tick(episode)
    columns["next.done"] = last
    columns["next.success"] = last & (episode.outcome == OUTCOME_SUCCESS)
    columns["timestamp"] = (frame_index / fps).astype(np.float32)
    columns["frame_index"] = frame_index
    columns["episode_index"] = np.full(T, episode_index, np.int64)
    columns["index"] = first_index + frame_index
    columns["task_index"] = np.full(T, task_index, np.int64)
    return columns


def _arrow_column(values, feature: dict):
    import pyarrow as pa

    dtype, shape = feature["dtype"], feature["shape"]
    if dtype == "string":
        return pa.array(values, type=pa.string())
    if dtype == "image":
        return pa.array(values, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    arrow_type = {"float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64(),
                  "bool": pa.bool_()}[dtype]
    values = np.asarray(values)
    if list(shape) == [1]:
        return pa.array(values.reshape(-1), type=arrow_type)
    flat = pa.array(np.ascontiguousarray(values).reshape(-1), type=arrow_type)
    return pa.FixedSizeListArray.from_arrays(flat, int(shape[0]))


def _stats(values: np.ndarray) -> dict[str, list]:
    """lerobot's per-feature statistics over the frame axis (quantiles exact, not binned)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    # NaN (an episode without labels) is left out; a feature with no finite value gets zeros.
    finite = np.where(np.isfinite(values), values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = {"min": np.nanmin(finite, axis=0), "max": np.nanmax(finite, axis=0),
                 "mean": np.nanmean(finite, axis=0), "std": np.nanstd(finite, axis=0),
                 "count": np.array([values.shape[0]])}
        for q in QUANTILES:
            stats[f"q{int(q * 100):02d}"] = np.nanquantile(finite, q, axis=0)
    return {k: np.nan_to_num(v).tolist() for k, v in stats.items()}


def _image_stats(frames: np.ndarray) -> dict[str, list]:
    """Per-channel statistics of images in [0, 1], shaped (3, 1, 1) as lerobot writes them."""
    sample = frames[:: max(1, len(frames) // 100)].astype(np.float64) / 255.0
    pixels = sample.reshape(-1, sample.shape[-1])
    stats = {"min": pixels.min(0), "max": pixels.max(0), "mean": pixels.mean(0),
             "std": pixels.std(0)}
    for q in QUANTILES:
        stats[f"q{int(q * 100):02d}"] = np.quantile(pixels, q, axis=0)
    out = {k: v.reshape(-1, 1, 1).tolist() for k, v in stats.items()}
    out["count"] = [int(len(sample))]
    return out


def _png(frame: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def encode_video(frames: np.ndarray, path: Path, fps: float, vcodec: str = DEFAULT_VCODEC
                 ) -> dict:
    """(T, H, W, 3) uint8 -> an mp4 like lerobot's (PyAV); returns its features 'info'."""
    try:
        import av
    except ImportError:
        raise LeRobotExportError("camera videos need PyAV (pip install av), or export the "
                                 "cameras as images: --camera-format image") from None
    from fractions import Fraction

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    rate = Fraction(fps).limit_denominator(1000)
    options = {"g": str(VIDEO_GOP), "crf": str(VIDEO_CRF)}
    if vcodec == "libsvtav1":
        options["preset"] = "12"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(vcodec, rate=rate, options=options)
        stream.pix_fmt = VIDEO_PIX_FMT
        stream.width, stream.height = int(width), int(height)
        for frame in frames:
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {"video.height": stream.height, "video.width": stream.width,
                "video.codec": stream.codec_context.codec.canonical_name,
                "video.pix_fmt": stream.pix_fmt, "video.is_depth_map": False,
                "video.fps": int(stream.base_rate) if stream.base_rate else fps,
                "video.channels": 3, "has_audio": False}


def _pandas_metadata(index_name: str, columns: list[tuple[str, str, str]]) -> bytes:
    """The b'pandas' schema metadata that makes pandas.read_parquet restore a string index."""
    return json.dumps({
        "index_columns": [index_name],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode",
                            "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [{"name": name, "field_name": name, "pandas_type": pandas_type,
                     "numpy_type": numpy_type, "metadata": None}
                    for name, pandas_type, numpy_type in columns]
        + [{"name": None, "field_name": index_name, "pandas_type": "unicode",
            "numpy_type": "object", "metadata": None}],
        "creator": {"library": "dexpie_episode.lerobot_export", "version": "1"},
        "pandas_version": "2.3.3",
    }).encode()


def export_lerobot(episodes: Sequence[Episode], out: Path | str, *,
                   optimality: Mapping[str, np.ndarray] | None = None,
                   cameras: Sequence[str] | None = None, camera_format: str = "video",
                   robot_type: str | None = None, vcodec: str = DEFAULT_VCODEC,
                   overwrite: bool = False) -> ExportSummary:
    """Write `episodes` (in this order: episode_index 0, 1, ...) as a LeRobotDataset in `out`.

    optimality: episode_id -> (T,) labels (`dexpie-train label`'s continuous indicator); the
    dataset then has an `optimality` feature (NaN for episodes not in the mapping).
    cameras: the cameras to export (default: those every episode recorded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    episodes = list(episodes)
    if camera_format not in CAMERA_FORMATS:
        raise LeRobotExportError(f"camera_format must be one of {CAMERA_FORMATS}")
    if cameras is None:
        cameras = sorted(set.intersection(*(set(e.images) for e in episodes))) if episodes else []
    check_exportable(episodes, cameras)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise LeRobotExportError(f"{out} exists and is not empty (use --overwrite)")
        if not (out / "meta" / "info.json").is_file():
            raise LeRobotExportError(f"{out} is not a LeRobotDataset; refusing to overwrite it")
        shutil.rmtree(out)
    fps = _fps_of(episodes)
    labelled = optimality is not None
    features = _features(episodes, cameras, camera_format, labelled)
    tasks = list(dict.fromkeys(e.task for e in episodes))
    unlabelled = []
    if labelled:
        for episode in episodes:
            labels = optimality.get(episode.episode_id)
            if labels is None:
                unlabelled.append(episode.episode_id)
            elif np.shape(labels) != (episode.num_ticks,):
                raise LeRobotExportError(f"{episode.path}: labels have shape {np.shape(labels)}, "
                                         f"the bag has {episode.num_ticks} ticks")

    frame_keys = [k for k, f in features.items() if f["dtype"] != "video"]
    schema = pa.schema([(k, _arrow_column([] if features[k]["dtype"] in ("string", "image")
                                          else np.zeros((0, *features[k]["shape"])),
                                          features[k]).type) for k in frame_keys])
    out.mkdir(parents=True, exist_ok=True)
    writer, data_file, data_bytes = None, 0, 0
    episode_rows: list[dict] = []
    stats_columns: dict[str, list[np.ndarray]] = {k: [] for k in frame_keys
                                                  if features[k]["dtype"] in
                                                  ("float32", "int64", "bool")}
    image_stats: dict[str, list[np.ndarray]] = {IMAGE_KEY_PREFIX + c: [] for c in cameras}
    total = 0
    try:
        for episode_index, episode in enumerate(episodes):
            labels = optimality.get(episode.episode_id) if labelled else None
            columns = _episode_columns(episode, episode_index, total,
                                       tasks.index(episode.task), fps, features, labels)
            row: dict = {"episode_index": episode_index, "tasks": [episode.task],
                         "length": episode.num_ticks}
            for camera in cameras:
                key, frames = IMAGE_KEY_PREFIX + camera, episode.images[camera]
                if camera_format == "image":
                    columns[key] = [{"bytes": _png(f), "path": None} for f in frames]
                else:
                    chunk, file = _chunk_file(episode_index)
                    path = out / VIDEO_PATH.format(video_key=key, chunk_index=chunk,
                                                   file_index=file)
                    info = encode_video(frames, path, fps, vcodec)
                    features[key].setdefault("info", info)
                    row.update({f"videos/{key}/chunk_index": chunk,
                                f"videos/{key}/file_index": file,
                                f"videos/{key}/from_timestamp": 0.0,
                                f"videos/{key}/to_timestamp": episode.num_ticks / fps})
                image_stats[key].append(frames)
            table = pa.table({k: _arrow_column(columns[k], features[k]) for k in frame_keys},
                             schema=schema)
            if writer is not None and data_bytes > DATA_FILES_SIZE_IN_MB * 2**20:
                writer.close()
                writer, data_file, data_bytes = None, data_file + 1, 0
            chunk, file = _chunk_file(data_file)
            if writer is None:
                path = out / DATA_PATH.format(chunk_index=chunk, file_index=file)
                path.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(str(path), schema)
            writer.write_table(table)
            data_bytes += table.nbytes
            row.update({"data/chunk_index": chunk, "data/file_index": file,
                        "dataset_from_index": total,
                        "dataset_to_index": total + episode.num_ticks,
                        "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
            for key in stats_columns:
                values = np.asarray(columns[key], dtype=np.float64)
                stats_columns[key].append(values)
                for stat, value in _stats(values).items():
                    row[f"stats/{key}/{stat}"] = value
            for key in image_stats:
                for stat, value in _image_stats(episode.images[key[len(IMAGE_KEY_PREFIX):]]
                                                ).items():
                    row[f"stats/{key}/{stat}"] = value
            row.update({"dexpie/episode_id": episode.episode_id,
                        "dexpie/outcome": int(episode.outcome),
                        "dexpie/outcome_name": OUTCOME_NAMES.get(episode.outcome, "unknown"),
                        "dexpie/start_stage": episode.stage, "dexpie/seed": int(episode.seed),
                        "dexpie/bag": str(episode.path)})
            episode_rows.append(row)
            total += episode.num_ticks
    finally:
        if writer is not None:
            writer.close()

    # meta/episodes: flat columns; list-valued stats become (nested) lists.
    episodes_table = pa.Table.from_pylist(episode_rows)
    path = out / EPISODES_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(episodes_table, str(path))

    task_table = pa.table({"task_index": pa.array(range(len(tasks)), type=pa.int64()),
                           "__index_level_0__": pa.array(tasks, type=pa.string())})
    task_table = task_table.replace_schema_metadata(
        {b"pandas": _pandas_metadata("__index_level_0__", [("task_index", "int64", "int64")])})
    pq.write_table(task_table, str(out / "meta" / "tasks.parquet"))

    stats = {key: _stats(np.concatenate(values)) for key, values in stats_columns.items()}
    for key, frames in image_stats.items():
        stats[key] = _image_stats(np.concatenate(frames))
    (out / "meta" / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")

    hands = [e.meta.hand for e in episodes if e.meta.hand is not None]
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type or "dexpie_hand",
        "total_episodes": len(episodes),
        "total_frames": total,
        "total_tasks": len(tasks),
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
        "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB,
        "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if camera_format == "video" and cameras else None,
        "features": features,
        "dexpie": {
            "exporter": "dexpie_episode.lerobot_export",
            "joint_names": list(episodes[0].joint_names),
            "object_names": list(episodes[0].object_names),
            "control_dt": episodes[0].control_dt,
            "outcomes": {str(k): v for k, v in OUTCOME_NAMES.items()},
            "intervention": "the human operator commanded the hand on the tick "
                            "(/intervention/state source == human)",
            "optimality": "dexpie-train label's continuous indicator s_t in [0, 1]"
                          if labelled else None,
            # The hand description (dexpie_common.hand JSON) when the bags carry one.
            "hand": hands[0].to_dict() if hands else None,
        },
    }
    (out / "meta" / "info.json").write_text(json.dumps(info, indent=4) + "\n")
    return ExportSummary(out=out, episodes=len(episodes), frames=total, fps=fps,
                         features=list(features), unlabelled=unlabelled)


# ---- command line ------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("folders", type=Path, nargs="+",
                        help="episode folders (each holding episode bags) or single bags")
    parser.add_argument("--out", type=Path, required=True, help="the LeRobotDataset folder")
    parser.add_argument("--labels", type=Path, default=None,
                        help="dataset folder holding labels/<label-set>.* (dexpie-train label): "
                             "adds the optimality feature")
    parser.add_argument("--label-set", default="dexpie")
    parser.add_argument("--cameras", nargs="*", default=None,
                        help="cameras to export (default: all that every episode recorded)")
    parser.add_argument("--camera-format", choices=CAMERA_FORMATS, default="video",
                        help="video: AV1 mp4 like lerobot's own (needs PyAV); image: lossless "
                             "PNG inside the parquet files")
    parser.add_argument("--vcodec", default=DEFAULT_VCODEC)
    parser.add_argument("--robot-type", default=None)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing LeRobotDataset in --out")
    return parser


def read_episode_folders(folders: Sequence[Path]) -> tuple[list[Episode], list[str]]:
    """Episodes of several folders (or bags), in the order training loads them per folder."""
    from .reader import read_episode

    episodes, problems = [], []
    for folder in folders:
        folder = Path(folder)
        if (folder / "metadata.yaml").is_file():
            try:
                episodes.append(read_episode(folder))
            except EpisodeFormatError as error:
                problems.append(str(error))
            continue
        if not folder.is_dir():
            raise LeRobotExportError(f"episode folder {folder} does not exist")
        found, bad = load_episodes(folder)
        episodes += found
        problems += [str(e) for e in bad]
    return episodes, problems


def main(argv: Sequence[str] | None, prog: str,
         load_optimality: Callable[[Path, str], dict[str, np.ndarray]]) -> int:
    """The command line (`dexpie-episodes export-lerobot`). load_optimality(labels_dir,
    label_set) -> episode id -> (T,) optimality: the label store is dexpie_learning's, which this
    floor does not import; the caller (dexpie_bringup, the top floor) passes its reader."""
    parser = add_arguments(argparse.ArgumentParser(
        prog=prog, description="Export episode bags as a LeRobotDataset (v3.0)."))
    args = parser.parse_args(argv)
    try:
        episodes, problems = read_episode_folders(args.folders)
        for problem in problems:
            print(f"skipping {problem}", file=sys.stderr)
        optimality = (load_optimality(args.labels, args.label_set)
                      if args.labels is not None else None)
        summary = export_lerobot(episodes, args.out, optimality=optimality,
                                 cameras=args.cameras, camera_format=args.camera_format,
                                 robot_type=args.robot_type, vcodec=args.vcodec,
                                 overwrite=args.overwrite)
    except (LeRobotExportError, EpisodeFormatError, OSError, ValueError) as error:
        parser.exit(2, f"{prog}: error: {error}\n")
    if summary.unlabelled:
        print(f"{len(summary.unlabelled)} episodes have no labels (optimality NaN): "
              f"{summary.unlabelled[:5]}", file=sys.stderr)
    print(f"{summary.episodes} episodes, {summary.frames} frames at {summary.fps} fps -> "
          f"{summary.out} (features: {', '.join(summary.features)})")
    return 0

