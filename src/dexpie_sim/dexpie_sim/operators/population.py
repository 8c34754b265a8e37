"""The simulated operator population: skill tiers and who is in each (the one place their
parameters are fixed). Measured per tier, before any policy is trained on them, by
benchmarks/operator_population.py.

Tiers follow robomimic's multi-human datasets (Mandlekar et al. 2021, "What Matters in
Learning from Offline Human Demonstrations"): six operators, 2 "better", 2 "okay", 2 "worse",
the worse ones slower and less successful. `expert` is the scripted operator as it was
(reaction 100 ms, white noise only, consistent takeovers): no profile.

Sources and reasons, per field (values per tier: better / okay / worse):
- reaction_delay_s (decisions: takeover, hand-back): human reaction times in teleoperation
  are 200-400 ms (the issue's survey); the range is split over the tiers, the fastest people
  in the better tier.
- tracking_delay_s (steering): continuous, visually guided tracking corrects with shorter
  delays than the reaction to a discrete event, ~100-200 ms (manual tracking studies, e.g.
  Miall, Weir & Stein 1993); 0.10-0.13 / 0.13-0.17 / 0.17-0.20 s. A first measurement that
  steered with the 200-400 ms reaction delay (the scripted planner has no prediction, which
  people use to steer through delay) solved 0 of 4 relocate demonstrations in the okay and
  worse tiers: every episode ran out of time oscillating around the ball.
- takeover_delay_s: repeated human takeover marks of the same event differ by more than 10
  frames at 30 fps (0.33 s) in over half of cases (GAINS). For a uniform draw of width W the
  chance that two draws differ by more than d is (1 - d / W)^2, above 1/2 for W > 1.14 s:
  the okay tier's width is 1.2 s (0.52), the better tier's narrower (0.6 s: 0.20), the worse
  tier's wider and later (1.5 s from 0.2 s: 0.61).
- takeover_miss_prob, early_handback_prob, failed_correction_prob: no measurement we know of
  for hands; stated assumptions, rising with the tier: 0.05 / 0.15 / 0.30.
- failed_correction_spread: a failed correction aims 4 task spreads off (far enough that the
  task's own tolerances are missed: the relocate grasp spread is 4 mm).
- glove_noise_std / glove_drift: the scripted expert's 0.02 rad white noise is kept as the
  floor; a held posture wanders by a few degrees over seconds (drift std 0.03 / 0.05 / 0.08
  rad, time constant 2 s).
- spacemouse noise / drift: 0.03 / 0.04 / 0.05 white (the expert's 0.02 and up), drift 0.02 /
  0.03 / 0.05 of full deflection over 1 s (a resting hand on the puck is mostly inside the
  deadband; a steering one is not steady).
- speed: robomimic's worse operators took longer per demonstration; 1.0 / 0.8 / 0.6 of the
  expert's arm steering gain.
- strategy_between / strategy_within: how far each person's own way (grasp point, approach
  height, pace; spreads named per task operator) is from the scripted one, in task spreads:
  between people 0.5 / 1.0 / 1.5, within one person's episodes 0.25 / 0.5 / 0.75.
"""
from __future__ import annotations

from dexpie_sim.operators.profile import OperatorProfile, PopulationMember

BETTER = OperatorProfile(
    name="better", reaction_delay_s=(0.20, 0.27),
    tracking_delay_s=(0.10, 0.13),
    glove_noise_std=0.03, glove_drift_std=0.03, glove_drift_tau_s=2.0,
    spacemouse_noise_std=0.03, spacemouse_drift_std=0.02, spacemouse_drift_tau_s=1.0,
    speed=1.0, strategy_between=0.5, strategy_within=0.25,
    takeover_delay_s=(0.0, 0.6), takeover_miss_prob=0.05, early_handback_prob=0.05,
    failed_correction_prob=0.05, failed_correction_spread=4.0)

OKAY = OperatorProfile(
    name="okay", reaction_delay_s=(0.25, 0.33),
    tracking_delay_s=(0.13, 0.17),
    glove_noise_std=0.04, glove_drift_std=0.05, glove_drift_tau_s=2.0,
    spacemouse_noise_std=0.04, spacemouse_drift_std=0.03, spacemouse_drift_tau_s=1.0,
    speed=0.8, strategy_between=1.0, strategy_within=0.5,
    takeover_delay_s=(0.0, 1.2), takeover_miss_prob=0.15, early_handback_prob=0.15,
    failed_correction_prob=0.15, failed_correction_spread=4.0)

WORSE = OperatorProfile(
    name="worse", reaction_delay_s=(0.32, 0.40),
    tracking_delay_s=(0.17, 0.20),
    glove_noise_std=0.06, glove_drift_std=0.08, glove_drift_tau_s=2.0,
    spacemouse_noise_std=0.05, spacemouse_drift_std=0.05, spacemouse_drift_tau_s=1.0,
    speed=0.6, strategy_between=1.5, strategy_within=0.75,
    takeover_delay_s=(0.2, 1.7), takeover_miss_prob=0.30, early_handback_prob=0.30,
    failed_correction_prob=0.30, failed_correction_spread=4.0)

TIERS: dict[str, OperatorProfile | None] = {"expert": None, "better": BETTER, "okay": OKAY,
                                            "worse": WORSE}
PEOPLE_PER_TIER = 2   # as in robomimic's multi-human datasets

# Operator sets: the expert, a human tier alone (its 2 people) or the mixed population (2
# people per human tier). Identities are global: a person is the same in a tier and in mixed.
POPULATIONS: dict[str, tuple[PopulationMember, ...]] = {
    "expert": (PopulationMember(None, 0),),   # one scripted operator, always the same
    **{tier: tuple(PopulationMember(profile, 10 * index + person)
                   for person in range(PEOPLE_PER_TIER))
       for index, (tier, profile) in enumerate(TIERS.items()) if profile is not None},
}
POPULATIONS["mixed"] = POPULATIONS["better"] + POPULATIONS["okay"] + POPULATIONS["worse"]


def member_for_episode(population: str, seed: int) -> PopulationMember:
    """Who operates episode `seed` in `population` (round robin over its people, so every
    person does the same share of the work)."""
    if population not in POPULATIONS:
        raise ValueError(f"operator population must be one of {sorted(POPULATIONS)}, got {population!r}")
    members = POPULATIONS[population]
    return members[seed % len(members)]
