"""The image path end to end on tiny images: the twin renders a camera into the demo bags,
BC trains on those frames, and the policy runs in the twin on freshly rendered frames."""
import numpy as np

from dexpie_experiment.evaluation import EvalConfig, evaluate_policy
from dexpie_episode import load_episodes
from dexpie_experiment.sim_collection import record_operator_demo
from dexpie_learning.train.bc import BCConfig, train_bc
from dexpie_policy.runner import PolicyRunner
from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.stages import StageLibrary

CAMERA = "fixed"
SIZE = 16


def test_render_train_infer_on_tiny_images(tmp_path):
    task = make_task("relocate", cameras=(CAMERA,), image_size=SIZE)
    library = StageLibrary(task, make_operator("relocate", task, seed=0))
    record_operator_demo(library, make_operator("relocate", task, seed=1), seed=3, out_dir=tmp_path / "demos")

    (episode,), errors = load_episodes(tmp_path / "demos")
    assert errors == []
    frames = episode.images[CAMERA]
    assert frames.shape == (episode.num_ticks, SIZE, SIZE, 3) and frames.dtype == np.uint8
    assert frames.std() > 5  # a rendered scene, not a blank buffer

    config = BCConfig(steps=3, batch_size=8, hidden_size=32, num_layers=1, horizon=8, cameras=(CAMERA,))
    train_bc([tmp_path / "demos"], tmp_path / "policy", config, progress=False)
    runner = PolicyRunner.from_pretrained(tmp_path / "policy")
    assert runner.config.camera_names == (CAMERA,) and runner.config.image_size == (SIZE, SIZE)

    report = evaluate_policy(runner, task, EvalConfig(episodes=1, latency_ticks=1), progress=False)
    assert report.episodes == 1 and report.results[0].steps > 0
    task.close()
