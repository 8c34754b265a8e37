"""`train` end to end on a few generated bags (tiny sizes): critic -> label -> DexPIE policy,
every baseline, exact resume, an unreadable bag skipped and reported.

Demonstrations are recorded by the simulated operator; "rollouts" are written directly with
EpisodeWriter from the demos' states with mixed policy/human sources and both outcomes.
"""
import json
import shutil

import numpy as np
import pytest
from safetensors.torch import load_file

from dexpie_episode import (OUTCOME_FAILURE, OUTCOME_SUCCESS, SOURCE_HUMAN,
                                     SOURCE_POLICY, EpisodeWriter, load_episodes)
from dexpie_learning.labels import load_labels
from dexpie_experiment.sim_collection import record_operator_demo
from dexpie_learning.train.cli import main as train_main
from dexpie_policy.checkpoint import load_policy
from dexpie_policy.runner import PolicyRunner
from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.stages import StageLibrary

TINY_POLICY = ["--steps", "6", "--batch-size", "16", "--hidden-size", "32", "--num-layers", "1",
               "--horizon", "8", "--quiet", "--threads", "1"]
TINY_CRITIC = ["--steps", "20", "--batch-size", "32", "--hidden-size", "32", "--num-layers", "1",
               "--num-bins", "21", "--quiet"]
# (demo to copy, human tick range, outcome)
ROLLOUTS = [(0, (40, 70), OUTCOME_FAILURE), (1, None, OUTCOME_FAILURE),
            (0, (20, 40), OUTCOME_SUCCESS)]


def _write_rollout(folder, demo, human, outcome, seed):
    rng = np.random.default_rng(seed)
    ticks = demo.num_ticks
    source = np.full(ticks, SOURCE_POLICY, np.uint8)
    if human:
        source[human[0]:human[1]] = SOURCE_HUMAN
    with EpisodeWriter(folder, demo.meta) as writer:
        for t in range(ticks):
            is_human = source[t] == SOURCE_HUMAN
            command = demo.command[t] + rng.normal(0, 0.01, demo.command.shape[1])
            writer.write_tick(int(t * 33_333_333), demo.joint_positions[t],
                              demo.joint_velocities[t], command,
                              object_state=demo.object_state[t],
                              policy_command=None if is_human else command,
                              source=int(source[t]),
                              edge=int(t > 0 and source[t] != source[t - 1]),
                              intervention_id=1 if is_human else 0)
        writer.close(outcome)


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("bags")
    demos, rollouts = root / "demos", root / "rollouts"
    task = make_task("relocate")
    library = StageLibrary(task, make_operator("relocate", task, seed=0))
    operator = make_operator("relocate", task, seed=1)
    for seed in (0, 1):
        assert record_operator_demo(library, operator, seed, demos).success
    recorded, errors = load_episodes(demos)
    assert not errors and len(recorded) == 2
    for number, (demo, human, outcome) in enumerate(ROLLOUTS):
        _write_rollout(rollouts, recorded[demo], human, outcome, seed=number)
    return dict(demos=demos, rollouts=rollouts, demo_ticks=sum(e.num_ticks for e in recorded))


def _data(bags, folder=None):
    return ["--demos", str(bags["demos"]), "--rollouts", str(folder or bags["rollouts"])]


@pytest.fixture(scope="module")
def labelled(bags, tmp_path_factory):
    """critic + label through the CLI; returns the critic folder."""
    critic = tmp_path_factory.mktemp("critic")
    assert train_main(["critic", *_data(bags), "--out", str(critic), *TINY_CRITIC]) == 0
    assert train_main(["label", *_data(bags), "--critic", str(critic),
                       "--labels", str(bags["rollouts"]), "--horizon", "8", "--quiet"]) == 0
    return critic


def test_critic_and_labels_are_written(bags, labelled):
    summary = json.loads((labelled / "training.json").read_text())
    assert summary["kind"] == "critic" and summary["episodes"] == 5
    assert sorted(summary["halves"][0] + summary["halves"][1]) == sorted(
        e.episode_id for folder in ("demos", "rollouts") for e in load_episodes(bags[folder])[0])
    for name in ("critic_0", "critic_1", "loss.png", "values.png", "losses.csv"):
        assert (labelled / name).exists(), name
    episodes = load_episodes(bags["demos"])[0] + load_episodes(bags["rollouts"])[0]
    labels = load_labels(bags["rollouts"], "dexpie",
                         episode_lengths={e.episode_id: e.num_ticks for e in episodes})
    assert labels.horizon == 8 and labels.extra["not_cross_fitted"] == []
    for episode in episodes:
        s = labels.episodes[episode.episode_id].optimality
        assert s.shape == (episode.num_ticks,) and np.all((s >= 0) & (s <= 1))


def test_dexpie_policy_trains_on_labels_and_loads(bags, labelled, tmp_path):
    out = tmp_path / "dexpie"
    assert train_main(["policy", *_data(bags), "--labels", str(bags["rollouts"]),
                       "--out", str(out), *TINY_POLICY,
                       "--optimality-embedding-scale", "1"]) == 0
    summary = json.loads((out / "training.json").read_text())
    human = sum(b - a for _, (a, b), _ in [r for r in ROLLOUTS if r[1]])
    assert summary["human_effort"] == dict(
        demo_steps=bags["demo_ticks"], intervention_steps=human,
        human_steps=bags["demo_ticks"] + human, robot_steps=summary["human_effort"]["robot_steps"],
        total_steps=summary["human_effort"]["total_steps"])
    assert summary["episodes"] == 5 and summary["deployment"] == dict(optimality=1.0,
                                                                      cfg_scale=1.5)
    assert summary["labels"]["horizon"] == 8 and summary["steps_done"] == 6
    model, _, _ = load_policy(out)
    assert model.config.optimality_conditioning and model.config.optimality_dropout == 0.3
    assert model.config.optimality_embedding_scale == 1.0      # the flag reaches the model
    runner = PolicyRunner.from_pretrained(out)
    obs = make_task("relocate").reset(3)
    chunk = runner.predict_chunk(obs.joint_positions, object_state=obs.object_state)
    assert chunk.shape == (8, len(obs.joint_positions)) and np.all(np.isfinite(chunk))
    metrics = (out / "metrics.csv").read_text().splitlines()
    assert metrics[0] == "step,loss,lr,samples_per_s" and len(metrics) == 7


@pytest.mark.parametrize("method, episodes, conditioned", [
    ("hg-dagger", 4, False),        # 2 demos + the 2 rollouts with an intervention
    ("iwr", 5, False), ("filtered-bc", 3, False),     # 2 demos + 1 successful rollout
    ("awr", 5, False), ("binary-indicator", 5, True), ("bc", 2, False)])
def test_baselines_train_and_load(bags, labelled, tmp_path, method, episodes, conditioned):
    out = tmp_path / method
    labels = (["--labels", str(bags["rollouts"])]
              if method in ("awr", "binary-indicator") else [])
    assert train_main([method, *_data(bags), *labels, "--out", str(out), *TINY_POLICY]) == 0
    summary = json.loads((out / "training.json").read_text())
    assert summary["method"] == method and summary["episodes"] == episodes
    assert summary["human_effort"]["human_steps"] == bags["demo_ticks"] + 50
    model, _, _ = load_policy(out)
    assert model.config.optimality_conditioning == conditioned


def test_resume_gives_the_same_model_as_an_uninterrupted_run(bags, labelled, tmp_path, capsys):
    args = [*_data(bags), "--labels", str(bags["rollouts"]), *TINY_POLICY, "--save-every", "2"]
    assert train_main(["policy", *args, "--out", str(tmp_path / "full")]) == 0
    interrupted = tmp_path / "interrupted"
    assert train_main(["policy", *args, "--out", str(interrupted), "--stop-after", "3"]) == 0
    assert json.loads((interrupted / "train_state" / "state.json").read_text())["step"] == 3
    assert train_main(["policy", *args, "--out", str(interrupted), "--resume"]) == 0
    assert "resumed at step 3" in capsys.readouterr().out
    full = load_file(str(tmp_path / "full" / "model.safetensors"))
    resumed = load_file(str(interrupted / "model.safetensors"))
    for name, tensor in full.items():
        assert np.array_equal(tensor.numpy(), resumed[name].numpy()), name
    losses = [json.loads((d / "training.json").read_text())["final_loss"]
              for d in (tmp_path / "full", interrupted)]
    assert losses[0] == losses[1]
    optimizer = load_file(str(interrupted / "train_state" / "optimizer.safetensors"))
    assert any(k.endswith(".exp_avg_sq") for k in optimizer)
    # --resume refuses a state of another config, naming what differs.
    with pytest.raises(SystemExit):
        train_main(["policy", *args, "--out", str(interrupted), "--resume",
                    "--learning-rate", "0.001"])
    assert "different config (differs in ['learning_rate'])" in capsys.readouterr().err


def test_an_unreadable_bag_is_skipped_and_reported(bags, tmp_path, capsys):
    rollouts = tmp_path / "rollouts"
    shutil.copytree(bags["rollouts"], rollouts, ignore=shutil.ignore_patterns("labels"))
    victim = sorted(p for p in rollouts.iterdir() if p.is_dir())[0]
    mcap = next(victim.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[:1000])          # truncated mid-write
    out = tmp_path / "out"
    assert train_main(["iwr", *_data(bags, rollouts), "--out", str(out), *TINY_POLICY]) == 0
    assert "skipped 1 unreadable bags" in capsys.readouterr().out
    summary = json.loads((out / "training.json").read_text())
    assert len(summary["skipped_bags"]) == 1 and victim.name in summary["skipped_bags"][0]
    assert summary["episodes"] == 4 and summary["rollout_episodes"] == 2


def test_a_given_weighting_replaces_the_methods_own(bags, tmp_path):
    # HG-DAgger keeps 4 episodes (demos + rollouts with an intervention); a weighting that
    # keeps every tick of every episode trains on all 5.
    from dexpie_learning.train.config import HGDaggerConfig
    from dexpie_learning.train.methods import method_weights, train_method

    calls = []

    def every_tick(method, config, data, labels=None):
        calls.append(method)
        _, optimality = method_weights(method, config, data, labels)
        return [np.ones(e.num_ticks) for e in data.episodes], optimality

    config = HGDaggerConfig(horizon=8, steps=6, batch_size=16, hidden_size=32, num_layers=1)
    out = tmp_path / "every-tick"
    train_method("hg-dagger", config, out, [bags["demos"]], [bags["rollouts"]], progress=False,
                 torch_threads=1, weigh=every_tick)
    assert calls == ["hg-dagger"]
    assert json.loads((out / "training.json").read_text())["episodes"] == 5


def test_an_epoch_budget_gives_each_method_steps_for_its_own_data(bags, tmp_path):
    """epochs > 0: steps = ceil(epochs x samples trained / batch), per method: HG-DAgger
    (fewer samples: human ticks and demos) gets fewer steps than BC on everything."""
    import math

    from dexpie_learning.train.config import HGDaggerConfig, PolicyTrainConfig, TrainConfigError
    from dexpie_learning.train.methods import train_method

    with pytest.raises(TrainConfigError, match="epochs must be 0"):
        PolicyTrainConfig(epochs=-1)
    steps = {}
    for method, cls in (("hg-dagger", HGDaggerConfig), ("bc", None)):
        from dexpie_learning.train.methods import POLICY_METHODS
        config = (cls or POLICY_METHODS[method])(horizon=8, steps=10_000, epochs=2,
                                                 batch_size=16, hidden_size=32, num_layers=1)
        out = tmp_path / method
        train_method(method, config, out, [bags["demos"]],
                     [bags["rollouts"]] if method != "bc" else [], progress=False,
                     torch_threads=1)
        summary = json.loads((out / "training.json").read_text())
        expected = math.ceil(2 * summary["samples_trained"] / 16)
        assert summary["config"]["steps"] == expected and summary["config"]["epochs"] == 2
        assert len((out / "losses.csv").read_text().strip().splitlines()) - 1 == expected
        steps[method] = expected
    assert steps["hg-dagger"] != steps["bc"]


def test_label_human_override_reaches_the_stored_labels(bags, labelled, tmp_path, capsys):
    common = [*_data(bags), "--critic", str(labelled), "--labels", str(tmp_path), "--horizon",
              "8", "--quiet"]
    assert train_main(["label", *common, "--label-set", "ok", "--human-override",
                       "successful"]) == 0
    episodes = load_episodes(bags["demos"])[0] + load_episodes(bags["rollouts"])[0]
    labels = load_labels(tmp_path, "ok", episode_lengths={e.episode_id: e.num_ticks
                                                          for e in episodes})
    assert labels.extra["human_override"] == "successful"
    human_in_failed = 0
    for episode in episodes:
        label = labels.episodes[episode.episode_id]
        if episode.success:
            assert np.all(label.optimality[label.human_window] == 1.0)
        else:   # scored by the critic (which would have to be perfect to give exactly 1)
            human_in_failed += int(label.human_window.sum())
            assert not np.all(label.optimality[label.human_window] == 1.0) \
                or not label.human_window.any()
    assert human_in_failed > 0   # the data has corrections in a failed episode to test with
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        train_main(["label", *common, "--label-set", "bad", "--human-override", "some"])
    assert exit_info.value.code == 2
    assert "human_override must be one of" in capsys.readouterr().err
    assert not (tmp_path / "labels" / "bad.json").exists()


def test_successful_demonstrations_only_drops_the_failed_ones_and_still_counts_their_effort(
        bags, tmp_path):
    """demonstrations="successful": a demo recorded as failed (or aborted) is not trained on,
    by any method; what it cost the human still counts; with none left, the error says why."""
    from dexpie_episode import OUTCOME_ABORTED
    from dexpie_learning.datasets import DatasetError
    from dexpie_learning.train.config import BCConfig, HGDaggerConfig
    from dexpie_learning.train.methods import train_method

    demos = tmp_path / "demos"
    shutil.copytree(bags["demos"], demos)
    recorded = load_episodes(bags["demos"])[0]
    failed = tmp_path / "failed_demos"   # every tick human, as a demonstration is
    _write_rollout(failed, recorded[0], (0, recorded[0].num_ticks), OUTCOME_FAILURE, seed=7)
    _write_rollout(failed, recorded[1], (0, recorded[1].num_ticks), OUTCOME_ABORTED, seed=8)
    failed_ticks = recorded[0].num_ticks + recorded[1].num_ticks
    tiny = dict(horizon=8, steps=4, batch_size=16, hidden_size=32, num_layers=1)
    summaries = {}
    for selection in ("all", "successful"):
        for method, cls, rollouts in (("bc", BCConfig, []),
                                      ("hg-dagger", HGDaggerConfig, [bags["rollouts"]])):
            out = tmp_path / f"{method}-{selection}"
            train_method(method, cls(demonstrations=selection, **tiny), out, [demos, failed],
                         rollouts, progress=False, torch_threads=1)
            summaries[method, selection] = json.loads((out / "training.json").read_text())
    for method, rollout_episodes in (("bc", 0), ("hg-dagger", 2)):
        every, kept = summaries[method, "all"], summaries[method, "successful"]
        assert every["episodes"] == 4 + rollout_episodes
        assert kept["episodes"] == 2 + rollout_episodes
        assert (kept["demo_episodes_loaded"], kept["demo_episodes_dropped"]) == (4, 2)
        assert every["demo_episodes_dropped"] == 0
        assert kept["samples_trained"] == every["samples_trained"] - failed_ticks
        assert kept["human_effort"] == every["human_effort"]   # the attempts cost the same
        assert kept["human_effort"]["demo_steps"] == bags["demo_ticks"] + failed_ticks
        assert kept["config"]["demonstrations"] == "successful"
    with pytest.raises(DatasetError, match=r"2 of 2 demonstrations were dropped as failed "
                                           r"\(demonstrations='successful'\)"):
        train_method("bc", BCConfig(demonstrations="successful", **tiny), tmp_path / "none",
                     [failed], [], progress=False, torch_threads=1)
