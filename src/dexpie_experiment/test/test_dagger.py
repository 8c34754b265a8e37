"""Multi-stage DAgger rollouts in the twin: the operator intervenes through the arbiter, the
bags record exactly who was in control, the command never jumps at the edges, and a policy
that does what the operator would do is left alone."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dexpie_experiment.dagger import (DaggerConfig, choose_start_stage,
                                    collect_dagger_round, make_dagger_setup)
from dexpie_experiment.dagger_report import intervention_lengths, summarize_round
from dexpie_episode import EDGE_HANDBACK, EDGE_TAKEOVER, SOURCE_HUMAN, load_episodes
from dexpie_policy.actions import twin_action_spec
from dexpie_policy.chunk_dataset import ChunkDataset, EpisodeArrays
from dexpie_policy.flow import FlowMatchingPolicy
from dexpie_policy.runner import PolicyRunner
from dexpie_policy.scheduler import InferenceError
from dexpie_sim.operator_rollout import run_operator_episode
from dexpie_sim.operator_session import DeviceButton
from dexpie_sim.operators.base import SCENE_STAGE_INDEX, HandbackConfig, OperatorConfig, SimOperator
from dexpie_sim.registry import make_operator, make_task, task_spec
from dexpie_sim.stages import StageLibrary

TASK = "relocate"
TINY = dict(hidden_size=32, num_layers=1, time_embedding_dim=8, optimality_embedding_dim=8,
            num_inference_steps=2, max_delay_steps=3)
CONFIG = DaggerConfig()


def seeds_starting_from(stage_is_init: bool, count: int, first: int = 500) -> list[int]:
    stages = task_spec(TASK).stages
    found = [s for s in range(first, first + 200)
             if (choose_start_stage(stages, s, 0.5) == "init") == stage_is_init]
    return found[:count]


@pytest.fixture(scope="module")
def untrained_runner():
    """A tiny untrained flow policy with normalisation fitted on 40 operator ticks."""
    task = make_task(TASK)
    operator = make_operator(TASK, task, seed=0)
    obs = task.reset(0)
    q, targets, objects = [], [], []
    for _ in range(40):
        target = operator.act()
        q.append(obs.joint_positions), targets.append(target), objects.append(obs.object_state)
        obs = task.step(target)
    spec = twin_action_spec(task.spec.arm_joints, task.spec.finger_joints)
    dataset = ChunkDataset([EpisodeArrays(np.array(q), np.array(targets), np.array(objects))], spec, horizon=8)
    torch.manual_seed(0)
    return PolicyRunner(FlowMatchingPolicy(dataset.policy_config(**TINY)), dataset.stats, spec)


@pytest.fixture(scope="module")
def untrained_round(untrained_runner, tmp_path_factory):
    out = tmp_path_factory.mktemp("dagger")
    seeds = seeds_starting_from(True, 1) + seeds_starting_from(False, 2)
    summaries = collect_dagger_round(untrained_runner, TASK, out, seeds, progress=False)
    episodes, errors = load_episodes(out)
    assert not errors
    return summaries, {e.seed: e for e in episodes}


def test_untrained_policy_is_taken_over_and_bags_record_who_was_in_control(untrained_round):
    summaries, episodes = untrained_round
    assert sum(s.interventions for s in summaries) >= 2
    for s in summaries:
        episode = episodes[s.seed]
        human = episode.intervention
        assert np.array_equal(human, episode.source == SOURCE_HUMAN)
        assert int(human.sum()) == s.human_steps and episode.num_ticks == s.steps
        assert intervention_lengths(human) == s.intervention_lengths
        assert episode.success == s.success and episode.stage == s.stage
        # Intervention ids count takeovers: run k of human ticks carries id k (1-based).
        starts = np.flatnonzero(np.diff(np.concatenate([[0], human.astype(int)])) == 1)
        ends = np.flatnonzero(np.diff(np.concatenate([human.astype(int), [0]])) == -1)
        assert len(starts) == s.interventions
        for k, (start, end) in enumerate(zip(starts, ends), start=1):
            assert np.all(episode.intervention_id[start:end + 1] == k)
            assert episode.edge[start] == EDGE_TAKEOVER
            if end + 1 < episode.num_ticks:
                assert episode.edge[end + 1] == EDGE_HANDBACK
        assert np.all(episode.intervention_id[:starts[0] if len(starts) else None] == 0)
        # The policy's proposal is recorded on every tick, and its chunks.
        assert episode.policy_command is not None and np.all(np.isfinite(episode.policy_command))
        assert len(episode.chunks) > 5 and episode.chunks[0].group_names == ("arm", "fingers")


def test_no_command_jump_at_takeover_or_handback(untrained_round):
    summaries, episodes = untrained_round
    limit = CONFIG.arbiter.max_transition_step
    for s in summaries:
        assert s.max_transition_step <= limit + 1e-9
        episode = episodes[s.seed]
        for edge_tick in np.flatnonzero(episode.edge != 0):
            if edge_tick > 0:  # the edge tick keeps the last command, the blend starts after
                np.testing.assert_array_equal(episode.command[edge_tick], episode.command[edge_tick - 1])
            if edge_tick + 1 < episode.num_ticks:
                assert np.abs(episode.command[edge_tick + 1] - episode.command[edge_tick]).max() <= limit + 1e-9


def test_episodes_from_intermediate_stages_record_their_stage(untrained_round):
    summaries, episodes = untrained_round
    stages = task_spec(TASK).stages
    intermediate = [s for s in summaries if s.stage != "init"]
    assert len(intermediate) == 2 and all(s.stage in stages[1:] for s in intermediate)
    for s in intermediate:
        assert episodes[s.seed].meta.stage == s.stage
    report = summarize_round(TASK, summaries, stages)
    assert report.overall["episodes"] == 3
    assert report.overall["human_steps"] == sum(s.human_steps for s in summaries)
    assert sum(g["episodes"] for g in report.by_stage.values()) == 3


class ReplayPredictor:
    """A 'perfect' policy: replays the operator's own demonstration, row t for tick t."""

    def __init__(self, targets: np.ndarray, horizon: int = 8):
        self.targets, self.horizon = targets, horizon

    def predict_chunk(self, observation, prefix_targets):
        rows = np.minimum(observation.tick + np.arange(self.horizon), len(self.targets) - 1)
        return self.targets[rows]


def test_a_policy_doing_what_the_operator_would_do_is_not_taken_over(tmp_path):
    task = make_task(TASK)
    library = StageLibrary(task, make_operator(TASK, task, seed=0))
    operator = make_operator(TASK, task, seed=1)
    seeds = seeds_starting_from(True, 2)
    total_interventions = 0
    for seed in seeds:
        targets = []   # the operator's commands as recorded (/hand/command), replayed as proposals
        result = run_operator_episode(library, operator, seed,
                                      on_tick=lambda _o, tick, _n: targets.append(tick.command.copy()))
        assert result.success
        # Zero latency: chunk rows land on their own ticks, so the replay is exact.
        summaries = collect_dagger_round(ReplayPredictor(np.array(targets)), TASK, tmp_path / str(seed), [seed],
                                         stage_mix=0.0, latency_ticks=0, progress=False)
        assert summaries[0].success and summaries[0].stage == "init"
        total_interventions += summaries[0].interventions
    assert total_interventions == 0


class _ScriptedOperator(SimOperator):
    """Operator stub: the scene is given by the test, the failure check by a flag."""

    def __init__(self, handback: HandbackConfig):
        task = SimpleNamespace(spec=SimpleNamespace(stages=("init", "a", "b")))
        super().__init__(task, teleop=None, config=OperatorConfig(handback=handback))
        self.failing = False

    def perceive(self):
        return {}

    def plan(self, scene):
        raise NotImplementedError

    def failure_seen(self, scene):
        return self.failing


def handback_tick(operator, stages, failing=()):
    """First tick (1-based) on which the operator wants to hand back, or None."""
    for tick, stage in enumerate(stages, start=1):
        operator.failing = tick in failing
        if operator.wants_handback({SCENE_STAGE_INDEX: stage}):
            return tick
    return None


def test_handback_rule_waits_for_the_stage_and_respects_min_and_max():
    rule = HandbackConfig(min_ticks=5, settle_ticks=4, max_ticks=30)
    op = _ScriptedOperator(rule)
    op.begin_intervention({SCENE_STAGE_INDEX: 0})
    assert handback_tick(op, [0] * 3 + [1] * 40) == 5       # advanced early: waits for min_ticks
    op.begin_intervention({SCENE_STAGE_INDEX: 0})
    assert handback_tick(op, [0] * 9 + [1] * 40) == 10      # as soon as the stage advances
    op.begin_intervention({SCENE_STAGE_INDEX: 1})
    assert handback_tick(op, [0] * 8 + [1] * 40) == 30      # back to, never beyond: max_ticks
    op.begin_intervention({SCENE_STAGE_INDEX: 1})
    assert handback_tick(op, [1] * 20) is None              # no advance, not the last stage
    # Last stage: the stage must hold again and the failure check stay quiet for settle_ticks.
    op.begin_intervention({SCENE_STAGE_INDEX: 2})
    assert handback_tick(op, [1] * 6 + [2] * 40, failing={7, 8}) == 12
    with pytest.raises(RuntimeError, match="begin_intervention"):
        _ScriptedOperator(rule).wants_handback({SCENE_STAGE_INDEX: 0})


@pytest.mark.parametrize("kwargs, named", [
    (dict(min_ticks=0), "min_ticks"), (dict(max_ticks=3, min_ticks=5), "max_ticks 3 is below min_ticks 5")])
def test_handback_config_is_validated(kwargs, named):
    with pytest.raises(ValueError, match=named):
        HandbackConfig(**kwargs)


@pytest.mark.parametrize("kwargs, named", [
    (dict(stage_mix=1.5), "stage_mix"), (dict(press_ticks=0), "press_ticks"),
    (dict(min_press_interval_ticks=3), "min_press_interval_ticks 3 must exceed press_ticks 3"),
    (dict(latency_ticks=-1), "latency_ticks"), (dict(mode="later"), "mode must be one of"),
    (dict(cfg_scale=float("nan")), r"cfg_scale must be in \[0, 100\], got nan"),
    (dict(optimality=float("nan")), "optimality must be in"),
    (dict(operator_population="novices"), "operator_population must be one of")])
def test_dagger_config_is_validated(kwargs, named):
    with pytest.raises(ValueError, match=named):
        DaggerConfig(**kwargs)
    with pytest.raises(ValueError, match="button_debounce_time"):
        DaggerConfig(min_press_interval_ticks=4).check_debounce(1 / 30)


def test_start_stages_follow_the_mix_and_the_seed():
    stages = task_spec(TASK).stages
    picks = [choose_start_stage(stages, s, 0.5) for s in range(400)]
    share = np.mean([p != "init" for p in picks])
    assert 0.4 < share < 0.6 and set(picks) == set(stages)
    assert picks == [choose_start_stage(stages, s, 0.5) for s in range(400)]
    assert {choose_start_stage(stages, s, 0.0) for s in range(50)} == {"init"}
    assert "init" not in {choose_start_stage(stages, s, 1.0) for s in range(50)}


def test_simulated_button_presses_are_levels_spaced_beyond_debounce():
    button = DeviceButton(press_ticks=3, min_interval_ticks=8)
    levels = []
    for tick in range(20):
        if tick in (0, 1, 4):  # a second request while pressed waits for the interval
            button.request()
        levels.append(button.level()[0])
    assert levels == [True] * 3 + [False] * 5 + [True] * 3 + [False] * 9
    assert intervention_lengths(np.array(levels)) == [3, 3]


class FailingPredictor:
    """A policy whose inference fails on its third chunk."""

    def __init__(self, joints):
        self.joints, self.calls = joints, 0

    def predict_chunk(self, observation, prefix_targets):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("size mismatch in layer obs_in")
        return np.tile(observation.joint_positions, (8, 1))


def test_an_inference_failure_stops_the_round_with_the_error(tmp_path):
    joints = len(task_spec(TASK).joint_names)
    with pytest.raises(InferenceError, match="chunk 2 requested at tick .*size mismatch in layer obs_in"):
        collect_dagger_round(FailingPredictor(joints), TASK, tmp_path, seeds_starting_from(True, 2),
                             stage_mix=0.0, latency_ticks=1, progress=False)
    episodes, errors = load_episodes(tmp_path)
    assert not episodes  # the interrupted rollout is set aside as incomplete, never used
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".incomplete")]


def test_a_policy_for_another_task_is_refused_before_any_rollout(untrained_runner):
    # The relocate policy has the door's joints but 15 object features, the door 13.
    with pytest.raises(ValueError, match="does not fit task 'door': it was trained on 15 "
                                         "object-state features, the task has 13 .door_angle"):
        make_dagger_setup(untrained_runner, "door")


def test_a_round_with_the_mixed_population_is_operated_person_by_person(untrained_runner, tmp_path):
    """Each episode seed is operated by its member of the population (recorded in the bag's
    note); the same seed with the expert gives another episode."""
    from dexpie_sim.operators.population import member_for_episode
    seeds = seeds_starting_from(True, 2)
    config = DaggerConfig(operator_population="mixed")
    collect_dagger_round(untrained_runner, TASK, tmp_path / "mixed", seeds, config=config,
                         progress=False)
    collect_dagger_round(untrained_runner, TASK, tmp_path / "expert", seeds[:1], progress=False)
    mixed = {e.seed: e for e in load_episodes(tmp_path / "mixed")[0]}
    expert = load_episodes(tmp_path / "expert")[0][0]
    for seed in seeds:
        member = member_for_episode("mixed", seed)
        assert f"operator {member.tier} #{member.identity}" in mixed[seed].meta.note
    assert "operator expert #0" in expert.meta.note
    first = mixed[seeds[0]]
    n = min(first.num_ticks, expert.num_ticks)
    assert not np.array_equal(first.command[:n], expert.command[:n])
