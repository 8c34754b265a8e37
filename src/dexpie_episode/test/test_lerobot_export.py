"""Episode bags -> LeRobotDataset, read back with the `lerobot` package itself (0.4.4, from
requirements/lerobot-test.txt, installed by scripts/setup.sh) and checked tick by tick against
the bags: state, action, object state, intervention flag, optimality, episode index, task,
outcome, stage, camera frames."""
from __future__ import annotations

import importlib.machinery
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from episode_helpers import make_meta, write_random_episode

from dexpie_episode import (OUTCOME_ABORTED, OUTCOME_FAILURE, OUTCOME_SUCCESS, EpisodeWriter,
                            SOURCE_HUMAN, SOURCE_POLICY, load_episodes, read_episode)
from dexpie_episode.lerobot_export import (LeRobotExportError, export_lerobot,
                                           read_episode_folders, stage_per_tick)

REPO_ID = "dexpie/test_export"


def _torchvision_stand_in() -> types.ModuleType:
    """lerobot 0.4.4 imports torchvision at import time but, for a dataset without video,
    uses only `transforms.ToTensor` (PIL image -> float CHW in [0, 1]). The PyPI torchvision
    wheels are CUDA builds whose ops do not load next to a CPU-only torch (this venv's); then
    this stand-in is used. Where torchvision imports, the real one is used."""
    module = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    module.__spec__ = importlib.machinery.ModuleSpec("torchvision", None)
    transforms.__spec__ = importlib.machinery.ModuleSpec("torchvision.transforms", None)

    class ToTensor:
        def __call__(self, image):
            array = np.asarray(image, dtype=np.float32) / 255.0
            return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))

    transforms.ToTensor = ToTensor
    module.transforms = transforms
    module.set_video_backend = lambda backend: None
    return module


@pytest.fixture(scope="module")
def lerobot_dataset_class():
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        stand_in = _torchvision_stand_in()
        sys.modules["torchvision"] = stand_in
        sys.modules["torchvision.transforms"] = stand_in.transforms
    from lerobot.datasets.lerobot_dataset import CODEBASE_VERSION, LeRobotDataset

    assert CODEBASE_VERSION == "v3.0"
    return LeRobotDataset


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))


def _write_set(root: Path) -> list:
    """Three episodes: two tasks, all three outcomes, a stage reached mid-episode, a camera."""
    meta_a = make_meta(cameras=("front",))
    meta_b = make_meta(task="door", stage="grasped", seed=3, cameras=("front",))
    write_random_episode(root, "ep_a", num_ticks=25, seed=1, meta=meta_a, outcome=OUTCOME_SUCCESS)
    write_random_episode(root, "ep_b", num_ticks=31, seed=2, meta=meta_b, outcome=OUTCOME_FAILURE)
    write_random_episode(root, "ep_c", num_ticks=12, seed=3, meta=make_meta(
        seed=9, cameras=("front",)), outcome=OUTCOME_ABORTED)
    episodes, errors = load_episodes(root)
    assert not errors and len(episodes) == 3
    return episodes


def test_export_reads_back_in_lerobot_tick_by_tick(tmp_path, lerobot_dataset_class):
    episodes = _write_set(tmp_path / "bags")
    rng = np.random.default_rng(0)
    # Labels for two of the three episodes: the third gets NaN.
    optimality = {e.episode_id: rng.uniform(0, 1, e.num_ticks) for e in episodes[:2]}
    out = tmp_path / "lerobot"
    summary = export_lerobot(episodes, out, optimality=optimality, camera_format="image")
    assert summary.unlabelled == [episodes[2].episode_id]

    dataset = lerobot_dataset_class(REPO_ID, root=out)
    total = sum(e.num_ticks for e in episodes)
    assert len(dataset) == total == dataset.meta.total_frames
    assert dataset.num_episodes == 3 and dataset.fps == 30
    assert dataset.meta.camera_keys == ["observation.images.front"]
    assert dataset.meta.names["observation.state"] == list(episodes[0].joint_names)
    assert dataset.meta.names["action"] == list(episodes[0].joint_names)
    assert dataset.meta.names["observation.environment_state"] == list(episodes[0].object_names)
    assert list(dataset.meta.tasks.index) == ["relocate", "door"] or \
        sorted(dataset.meta.tasks.index) == ["door", "relocate"]

    index = 0
    for episode_index, episode in enumerate(episodes):
        stages = stage_per_tick(episode)
        assert episode.stages and stages[0] == episode.stage and stages[-1] == "grasped"
        row = dataset.meta.episodes[episode_index]
        assert row["dexpie/episode_id"] == episode.episode_id
        assert row["dexpie/outcome"] == episode.outcome
        assert row["dexpie/start_stage"] == episode.stage
        assert row["tasks"] == [episode.task]
        assert (row["dataset_from_index"], row["dataset_to_index"]) == (index, index +
                                                                        episode.num_ticks)
        for t in range(episode.num_ticks):
            item = dataset[index]
            assert item["episode_index"].item() == episode_index
            assert item["frame_index"].item() == t and item["index"].item() == index
            assert item["timestamp"].item() == pytest.approx(t / 30, abs=1e-5)
            np.testing.assert_allclose(item["observation.state"].numpy(),
                                       episode.joint_positions[t], rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(item["action"].numpy(), episode.command[t],
                                       rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(item["observation.environment_state"].numpy(),
                                       episode.object_state[t], rtol=1e-6, atol=1e-6)
            assert bool(item["intervention"]) == (episode.source[t] == SOURCE_HUMAN)
            if episode.episode_id in optimality:
                assert item["optimality"].item() == pytest.approx(
                    optimality[episode.episode_id][t], abs=1e-6)
            else:
                assert np.isnan(item["optimality"].item())
            assert item["task"] == episode.task
            assert item["outcome"].item() == episode.outcome
            assert item["stage"] == stages[t]
            last = t == episode.num_ticks - 1
            assert bool(item["next.done"]) == last
            assert bool(item["next.success"]) == (last and episode.outcome == OUTCOME_SUCCESS)
            image = (item["observation.images.front"].numpy().transpose(1, 2, 0) * 255).round()
            np.testing.assert_array_equal(image.astype(np.uint8), episode.images["front"][t])
            index += 1
    assert episodes[0].intervention.any() and (~episodes[0].intervention).any()

    # Statistics as lerobot reads them (meta/stats.json), against the bags.
    commands = np.concatenate([e.command for e in episodes])
    np.testing.assert_allclose(dataset.meta.stats["action"]["mean"], commands.mean(0), atol=1e-5)
    np.testing.assert_allclose(dataset.meta.stats["action"]["max"], commands.max(0), atol=1e-5)
    assert dataset.meta.stats["observation.images.front"]["mean"].shape == (3, 1, 1)


def _write_smooth_camera_episode(root: Path, episode_id: str, ticks: int) -> None:
    meta = make_meta(cameras=("wrist",), object_names=())
    J = len(meta.joint_names)
    y, x = np.mgrid[0:64, 0:96]
    with EpisodeWriter(root, meta, episode_id=episode_id) as writer:
        for t in range(ticks):
            image = np.stack([(x * 2 + t * 4) % 256, (y * 3) % 256,
                              np.full_like(x, 40 + 5 * t)], axis=-1).astype(np.uint8)
            writer.write_tick(1_000_000_000 + t * 33_333_333, np.full(J, 0.01 * t), np.zeros(J),
                              np.full(J, 0.02 * t), source=SOURCE_POLICY,
                              images={"wrist": image})
        writer.close(OUTCOME_SUCCESS)


def test_export_camera_as_video(tmp_path, lerobot_dataset_class):
    """Cameras as AV1 mp4 (lerobot's default layout): lerobot opens the dataset and reads the
    video's properties; the frames are decoded with PyAV (the library lerobot encodes with;
    lerobot 0.4.4 decodes with torchcodec, which needs a system FFmpeg)."""
    import av
    from lerobot.datasets.video_utils import get_video_info

    bags = tmp_path / "bags"
    _write_smooth_camera_episode(bags, "cam_a", 20)
    _write_smooth_camera_episode(bags, "cam_b", 15)
    episodes, errors = load_episodes(bags)
    assert not errors
    out = tmp_path / "lerobot"
    export_lerobot(episodes, out)

    dataset = lerobot_dataset_class(REPO_ID, root=out)
    key = "observation.images.wrist"
    assert dataset.meta.video_keys == [key]
    assert dataset.meta.features[key]["shape"] == (64, 96, 3)
    for episode_index, episode in enumerate(episodes):
        path = out / dataset.meta.get_video_file_path(episode_index, key)
        info = get_video_info(path)
        for field in ("video.height", "video.width", "video.codec", "video.pix_fmt",
                      "video.fps"):
            assert info[field] == dataset.meta.features[key]["info"][field]
        assert info["video.codec"] == "av1" and info["video.fps"] == 30
        row = dataset.meta.episodes[episode_index]
        assert row[f"videos/{key}/to_timestamp"] == pytest.approx(episode.num_ticks / 30)
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == episode.num_ticks
        for t, frame in enumerate(frames):
            error = np.abs(frame.astype(int) - episode.images["wrist"][t].astype(int)).mean()
            assert error < 12, (episode_index, t, error)
    # The non-video features still read frame by frame.
    item = dataset.hf_dataset[25]
    np.testing.assert_allclose(item["action"].numpy(), episodes[1].command[5], atol=1e-6)


def test_refuses_mixed_joint_layouts_and_existing_output(tmp_path):
    bags = tmp_path / "bags"
    write_random_episode(bags, "a", num_ticks=5, meta=make_meta(cameras=()))
    write_random_episode(bags, "b", num_ticks=5, meta=make_meta(
        cameras=(), joint_names=("j0", "j1")))
    episodes, _ = load_episodes(bags)
    with pytest.raises(LeRobotExportError, match="joint_names differ"):
        export_lerobot(episodes, tmp_path / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(LeRobotExportError, match="not empty"):
        export_lerobot(episodes[:1], tmp_path / "busy")
    with pytest.raises(LeRobotExportError, match="not a LeRobotDataset"):
        export_lerobot(episodes[:1], tmp_path / "busy", overwrite=True)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_dexpie_episodes_export_lerobot_cli_with_labels_needs_no_rclpy(tmp_path,
                                                                      lerobot_dataset_class):
    """The command the README shows, with labels written by `dexpie-train label`'s store."""
    from dexpie_learning.critic.returns import ReturnConfig
    from dexpie_learning.labels import label_dataset, save_labels

    bags = tmp_path / "rollouts"
    for i in range(2):
        write_random_episode(bags, f"ep{i}", num_ticks=20 + i, seed=i,
                             meta=make_meta(cameras=()))
    episodes, _ = load_episodes(bags)
    rng = np.random.default_rng(1)
    labels = label_dataset({e.episode_id: rng.uniform(-1, 0, e.num_ticks) for e in episodes},
                           {e.episode_id: e.intervention for e in episodes}, horizon=4,
                           returns=ReturnConfig(max_episode_steps=50))
    save_labels(bags, "dexpie", labels)
    out = tmp_path / "exported"
    code = ("import sys\nfrom dexpie_bringup.episodes_cli import main\n"
            "code = main(sys.argv[1:])\n"
            "assert 'rclpy' not in sys.modules, 'export-lerobot imported rclpy'\n"
            "sys.exit(code)\n")
    run = subprocess.run([sys.executable, "-c", code, "export-lerobot", str(bags), "--out",
                          str(out), "--labels", str(bags)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "2 episodes, 41 frames at 30 fps" in run.stdout
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and "optimality" in info["features"]
    dataset = lerobot_dataset_class(REPO_ID, root=out)
    for i in range(len(dataset)):
        item = dataset[i]
        episode = episodes[item["episode_index"].item()]
        t = item["frame_index"].item()
        assert item["optimality"].item() == pytest.approx(
            labels.optimality_of(episode.episode_id)[t], abs=1e-6)
    # An existing dataset is replaced only with --overwrite.
    again = subprocess.run([sys.executable, "-m", "dexpie_bringup.episodes_cli", "export-lerobot",
                            str(bags / "ep0"), "--out", str(out)], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 2 and "not empty" in again.stderr
    episodes_read, problems = read_episode_folders([bags / "ep0"])
    assert [e.episode_id for e in episodes_read] == ["ep0"] and not problems
    assert read_episode(bags / "ep0").num_ticks == 20


def test_import_lerobot_round_trip_gives_the_bags_back(tmp_path):
    """export-lerobot, then import-lerobot with the hand description: the same ticks, flag,
    outcome, task and stages (cameras and joint velocities are not imported)."""
    from dexpie_common.hand import HandDescription, JointGroup
    from dexpie_episode.bags_cli import main as bags_main
    from dexpie_episode.lerobot_import import LeRobotImportError, import_lerobot

    episodes = _write_set(tmp_path / "bags")
    joints, objects = episodes[0].joint_names, episodes[0].object_names
    hand = HandDescription("test_hand", joints, (JointGroup("all", joints, "glove",
                                                            "absolute_joint"),),
                           (-9.0,) * len(joints), (9.0,) * len(joints), (9.0,) * len(joints),
                           30.0, 300, object_names=objects)
    exported = tmp_path / "lerobot"
    export_lerobot(episodes, exported, cameras=[])
    paths = import_lerobot(exported, tmp_path / "imported", hand)
    assert len(paths) == 3
    for episode, path in zip(episodes, paths):
        back = read_episode(path)
        assert back.meta.hand == hand
        assert (back.task, back.stage, back.outcome) == (episode.task, episode.stage,
                                                         episode.outcome)
        # The stage per tick survives (a STAGE event naming the stage already current does
        # not: ep_b starts at "grasped" and "reaches" it again).
        assert stage_per_tick(back) == stage_per_tick(episode)
        if episode.stage != "grasped":
            assert back.stages == episode.stages
        np.testing.assert_array_equal(back.intervention, episode.intervention)
        np.testing.assert_allclose(back.joint_positions, episode.joint_positions, atol=1e-6)
        np.testing.assert_allclose(back.command, episode.command, atol=1e-6)
        np.testing.assert_allclose(back.object_state, episode.object_state, atol=1e-6)
    # A hand that is not the dataset's is refused, naming the difference.
    other = HandDescription("other", joints[::-1], (JointGroup("all", joints[::-1], "glove",
                                                               "absolute_joint"),),
                            (-9.0,) * len(joints), (9.0,) * len(joints), (9.0,) * len(joints),
                            30.0, 300, object_names=objects)
    with pytest.raises(LeRobotImportError, match="names .* are not the hand's"):
        import_lerobot(exported, tmp_path / "other", other)
    # The command line: dexpie-bags import-lerobot with the hand as a YAML file.
    hand_file = tmp_path / "hand.yaml"
    hand_file.write_text(hand.parameters_yaml())
    assert bags_main(["import-lerobot", str(exported), "--out", str(tmp_path / "cli"),
                      "--hand", str(hand_file)]) == 0
    assert len(load_episodes(tmp_path / "cli")[0]) == 3
