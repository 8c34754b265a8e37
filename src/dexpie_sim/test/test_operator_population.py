"""The simulated operator population (operators/profile.py, operators/population.py): the
expert tier is the scripted operator draw for draw; a person's delays, drift, strategy,
takeover decisions and hand-backs behave as their profile states; bad profiles are refused by
field name."""
import dataclasses

import numpy as np
import pytest

from dexpie_sim.operators.base import SCENE_STAGE_INDEX, HandbackConfig, OperatorConfig, SimOperator
from dexpie_sim.operators.population import (BETTER, OKAY, POPULATIONS, TIERS, WORSE,
                                             member_for_episode)
from dexpie_sim.operators.profile import (OperatorProfile, PopulationMember, ProfileError,
                                          SlowDrift, ticks)
from dexpie_sim.registry import make_operator, make_task
from dexpie_sim.stages import INIT_STAGE, StageLibrary

DT = 1.0 / 30.0


@pytest.fixture(scope="module")
def relocate():
    task = make_task("relocate")
    return task, StageLibrary(task, make_operator("relocate", task, seed=0))


def _readings(operator, library, seed, ticks_=40):
    """Device readings of an operator watching `ticks_` ticks of a still hand, then steering."""
    obs = library.reset(seed, INIT_STAGE)
    operator.reset(seed + 7919)
    operator.teleop.release()
    out = []
    for tick in range(ticks_):
        scene = operator.observe_delayed()
        if tick < ticks_ // 2:
            reading = operator.resting_devices()
        else:
            if not operator.teleop.engaged:
                operator.teleop.engage(library.task.controller.joint_positions(library.task.data))
            reading = operator.devices(scene)
        out.append(np.concatenate([reading.glove, reading.spacemouse_axes]))
        library.task.step(obs.joint_positions)
    return np.array(out)


def test_the_expert_tier_is_the_scripted_operator_draw_for_draw(relocate):
    task, library = relocate
    plain = make_operator("relocate", task, seed=1)
    expert = make_operator("relocate", task, seed=1, member=member_for_episode("expert", 3))
    assert expert.profile is None and POPULATIONS["expert"][0].tier == "expert"
    np.testing.assert_array_equal(_readings(plain, library, 11), _readings(expert, library, 11))
    # and a person is not; the same operator made the expert again is the expert again
    person = make_operator("relocate", task, seed=1, member=member_for_episode("okay", 3))
    assert not np.allclose(_readings(person, library, 11), _readings(plain, library, 11))
    person.set_profile(member_for_episode("expert", 0))
    np.testing.assert_array_equal(_readings(person, library, 11), _readings(plain, library, 11))
    assert person.reaction_delay_steps == plain.reaction_delay_steps


def test_delays_are_drawn_per_episode_within_the_profile(relocate):
    task, _ = relocate
    operator = make_operator("relocate", task, seed=1, member=PopulationMember(WORSE, 7))
    reaction, tracking = set(), set()
    for seed in range(30):
        operator.reset(seed)
        reaction.add(operator.reaction_delay_steps)
        tracking.add(operator.tracking_delay_steps)
        assert operator.tracking_delay_steps <= operator.reaction_delay_steps
    lo, hi = (ticks(s, DT) for s in WORSE.reaction_delay_s)
    assert reaction <= set(range(lo, hi + 1)) and len(reaction) > 1
    lo, hi = (ticks(s, DT) for s in WORSE.tracking_delay_s)
    assert tracking <= set(range(lo, hi + 1)) and len(tracking) > 1
    # a takeover's reset (no seed) keeps the episode's delay
    operator.reset(5)
    delay = operator.reaction_delay_steps
    operator.reset()
    assert operator.reaction_delay_steps == delay


def test_slow_drift_has_its_stated_std_and_time_constant():
    drift = SlowDrift(4, std=0.05, tau_s=2.0, dt=DT, rng=np.random.default_rng(0))
    values = np.array([drift.step().copy() for _ in range(60000)])
    assert values.std() == pytest.approx(0.05, rel=0.1)
    lag = int(round(2.0 / DT))   # one time constant: correlation 1/e
    corr = np.mean([np.corrcoef(values[:-lag, i], values[lag:, i])[0, 1] for i in range(4)])
    assert corr == pytest.approx(np.exp(-1), abs=0.08)
    assert np.all(SlowDrift(3, 0.0, 1.0, DT, np.random.default_rng(0)).step() == 0)


def test_strategy_differs_between_people_and_a_little_between_episodes(relocate):
    task, _ = relocate
    nominal = type(make_operator("relocate", task)).grasp_offset
    a = make_operator("relocate", task, member=PopulationMember(OKAY, 1))
    b = make_operator("relocate", task, member=PopulationMember(OKAY, 2))
    a.reset(100)
    b.reset(100)
    between = np.linalg.norm(a.grasp_offset - b.grasp_offset)
    first = a.grasp_offset.copy()
    a.reset(101)
    within = np.linalg.norm(a.grasp_offset - first)
    assert between > 0 and 0 < within
    assert not np.allclose(a.grasp_offset, nominal)
    # the expert's plan is the class's, and a pace keeps its sign
    expert = make_operator("relocate", task)
    expert.reset(100)
    np.testing.assert_array_equal(expert.grasp_offset, nominal)
    for identity in range(50):
        person = make_operator("relocate", task, member=PopulationMember(WORSE, identity))
        person.reset(identity)
        assert person.close_seconds > 0 and person.lookahead > 0


class _Watcher(SimOperator):
    """An operator whose task check fires on the ticks in `failures`."""

    def __init__(self, profile):
        task = make_task("relocate")
        super().__init__(task, task.make_teleop(), OperatorConfig(
            handback=HandbackConfig(min_ticks=5, settle_ticks=3, max_ticks=40)))
        self.failures, self.tick = set(), 0
        self.set_profile(None if profile is None else PopulationMember(profile, 4))

    def perceive(self):
        return {"tick": self.tick}

    def plan(self, scene):
        raise NotImplementedError

    def failure_seen(self, scene):
        return scene.get("tick") in self.failures


def _first_press(watcher, seed, failure_tick=10, limit=200):
    watcher.reset(seed)
    watcher.failures = {failure_tick}
    for tick in range(limit):
        watcher.tick = tick
        if watcher.wants_takeover(watcher.observe_delayed()):
            return tick
    return None


def test_takeovers_come_late_inconsistently_and_sometimes_not_at_all():
    expert = _Watcher(None)
    assert {_first_press(expert, seed) for seed in range(5)} == {10 + 3}   # its 100 ms delay
    okay = _Watcher(OKAY)
    presses = [_first_press(okay, seed) for seed in range(300)]
    made = [p for p in presses if p is not None]
    missed = 1 - len(made) / len(presses)
    assert missed == pytest.approx(OKAY.takeover_miss_prob, abs=0.06)
    reaction = [ticks(s, DT) for s in OKAY.reaction_delay_s]
    decision = [ticks(s, DT) for s in OKAY.takeover_delay_s]
    assert min(made) >= 10 + reaction[0] + decision[0]
    assert max(made) <= 10 + reaction[1] + decision[1]
    pairs = np.abs(np.subtract.outer(made, made))[np.triu_indices(len(made), 1)]
    assert np.mean(pairs > 10) > 0.5   # GAINS: people's marks differ by > 10 frames in > 1/2


def test_early_handbacks_and_failed_corrections_follow_their_probabilities(relocate):
    always = dataclasses.replace(OKAY, early_handback_prob=1.0, failed_correction_prob=1.0)
    watcher = _Watcher(always)
    watcher.reset(3)
    watcher.begin_intervention({SCENE_STAGE_INDEX: 0})
    for tick in range(1, 6):   # never before min_ticks, at once after
        assert watcher.wants_handback({SCENE_STAGE_INDEX: 0}) == (tick >= 5)
    never = _Watcher(dataclasses.replace(OKAY, early_handback_prob=0.0))
    never.reset(3)
    never.begin_intervention({SCENE_STAGE_INDEX: 0})
    assert not any(never.wants_handback({SCENE_STAGE_INDEX: 0}) for _ in range(20))

    task, _ = relocate
    fumbler = make_operator("relocate", task, member=PopulationMember(always, 1))
    fumbler.reset(8)
    planned = fumbler.grasp_offset.copy()
    fumbler.begin_intervention({SCENE_STAGE_INDEX: 0})
    assert np.linalg.norm(fumbler.grasp_offset - planned) > 0
    fumbler.reset()   # the correction's strategy ends with the intervention
    np.testing.assert_array_equal(fumbler.grasp_offset, planned)


def test_population_membership_and_profile_checks():
    assert set(TIERS) == {"expert", "better", "okay", "worse"}
    mixed = POPULATIONS["mixed"]
    assert len(mixed) == 6 and [m.tier for m in mixed].count("worse") == 2
    assert len({m.identity for m in mixed}) == 6
    assert [member_for_episode("mixed", s).identity for s in range(7)] == \
        [m.identity for m in mixed] + [mixed[0].identity]
    assert member_for_episode("better", 0) == POPULATIONS["better"][0]
    with pytest.raises(ValueError, match="operator population must be one of"):
        member_for_episode("novice", 0)
    with pytest.raises(ProfileError, match="'okay': takeover_miss_prob must be a probability"):
        dataclasses.replace(OKAY, takeover_miss_prob=1.5)
    with pytest.raises(ProfileError, match="reaction_delay_s must be \\(low, high\\)"):
        dataclasses.replace(BETTER, reaction_delay_s=(0.3, 0.2))
    with pytest.raises(ProfileError, match="speed must be > 0"):
        dataclasses.replace(WORSE, speed=0.0)
    with pytest.raises(ProfileError, match="glove_noise_std must be a finite number"):
        dataclasses.replace(WORSE, glove_noise_std=float("nan"))
    assert isinstance(OKAY, OperatorProfile)


def test_a_resting_persons_puck_stays_inside_the_takeover_deflection(relocate):
    """Resting hands do not steer: the puck reads the person's white noise, not their
    steering drift, so the arbiter's device-motion rule (0.15 for 3 ticks) is not tripped."""
    from dexpie_teleop.arbiter import ArbiterConfig
    task, library = relocate
    limit = ArbiterConfig().takeover_deflection
    for identity in (30, 31):   # the worse tier's people
        person = make_operator("relocate", task, member=PopulationMember(WORSE, identity))
        library.reset(identity, INIT_STAGE)
        person.reset(identity)
        axes = np.array([person.resting_devices().spacemouse_axes for _ in range(900)])
        beyond = np.max(np.abs(axes), axis=1) > limit
        assert not np.any(beyond[:-2] & beyond[1:-1] & beyond[2:])
        assert np.std(axes) > 0.03   # the noise is there
