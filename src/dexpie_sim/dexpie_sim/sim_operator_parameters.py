"""Parameters of the `sim_operator` node (the simulated human at glove and spacemouse),
declared once. Defaults of the operator's imperfections are `OperatorConfig`'s."""
from __future__ import annotations

from dexpie_common.parameters import InRange, OneOf, Parameter, ParameterSchema
from dexpie_sim.operator_session import TAKEOVER_MODES
from dexpie_sim.operators.base import HandbackConfig, OperatorConfig
from dexpie_sim.operators.population import POPULATIONS
from dexpie_sim.parameter_checks import task_known
from dexpie_sim.registry import TASK_NAMES

_OPERATOR = OperatorConfig()
_HANDBACK = HandbackConfig()


def _scripted_ticks_ordered(values) -> str | None:
    if values["scripted_handback_tick"] <= values["scripted_takeover_tick"]:
        return (f"parameter 'scripted_handback_tick' = {values['scripted_handback_tick']} rejected: it must "
                f"come after scripted_takeover_tick = {values['scripted_takeover_tick']}")
    return None


def _press_interval_exceeds_press(values) -> str | None:
    if values["min_press_interval_ticks"] <= values["press_ticks"]:
        return (f"parameter 'min_press_interval_ticks' = {values['min_press_interval_ticks']} rejected: it must "
                f"exceed press_ticks = {values['press_ticks']} (a button is released between presses)")
    return None


def _handback_max_not_below_min(values) -> str | None:
    if values["handback_max_ticks"] < values["handback_min_ticks"]:
        return (f"parameter 'handback_max_ticks' = {values['handback_max_ticks']} rejected: below "
                f"handback_min_ticks = {values['handback_min_ticks']}")
    return None


SIM_OPERATOR = ParameterSchema("sim_operator", (
    Parameter("task", str, "", "twin task the operator works on (required): " + ", ".join(TASK_NAMES)),
    Parameter("takeover_mode", str, "rule", "when the operator presses the spacemouse button: 'rule' (its own "
              "takeover / hand-back judgement on the task state, as in DAgger collection), 'scripted' (at "
              "scripted_takeover_tick and scripted_handback_tick), 'never' (resting devices only)",
              (OneOf(TAKEOVER_MODES),)),
    Parameter("scripted_takeover_tick", int, 30, "scripted mode: episode tick of the takeover press "
              "(the twin's task-status tick; ticks since the episode START without one)", (InRange(0, 10 ** 9),)),
    Parameter("scripted_handback_tick", int, 90, "scripted mode: episode tick of the hand-back press",
              (InRange(1, 10 ** 9),)),
    Parameter("press_ticks", int, 3, "ticks a button press holds the button down", (InRange(1, 1000),)),
    Parameter("min_press_interval_ticks", int, 8, "fewest ticks between two presses; at the control rate it "
              "must exceed the arbiter's button_debounce_time", (InRange(2, 1000),)),
    Parameter("seed", int, 1, "seed of the operator's noise until an episode starts (each episode then "
              "reseeds it from the episode's seed, as the DAgger rollouts do)", (InRange(0, 2 ** 62),)),
    Parameter("operator_population", str, "expert", "who is at the devices: 'expert' (the scripted "
              "operator, configured by the parameters below), a skill tier ('better', 'okay', 'worse': "
              "2 simulated people each, their profiles in dexpie_sim/operators/population.py replace "
              "the delay and noise below) or 'mixed' (the three tiers); episode seed s is operated by "
              "person s mod the population's size", (OneOf(tuple(sorted(POPULATIONS))),)),
    Parameter("reaction_delay_steps", int, _OPERATOR.reaction_delay_steps,
              "ticks the operator sees the scene late", (InRange(0, 100),)),
    Parameter("glove_noise_std", float, _OPERATOR.glove_noise_std, "glove channel noise, rad",
              (InRange(0.0, 1.0),)),
    Parameter("spacemouse_noise_std", float, _OPERATOR.spacemouse_noise_std,
              "spacemouse axis noise, fraction of full deflection", (InRange(0.0, 1.0),)),
    Parameter("arm_gain", float, _OPERATOR.arm_gain, "fraction of the arm error the operator closes per tick",
              (InRange(0.0, 1.0, lo_inclusive=False),)),
    Parameter("handback_min_ticks", int, _HANDBACK.min_ticks, "rule mode: ticks in control before a hand-back",
              (InRange(1, 10 ** 6),)),
    Parameter("handback_settle_ticks", int, _HANDBACK.settle_ticks, "rule mode: quiet ticks before handing "
              "back in the task's last stage", (InRange(1, 10 ** 6),)),
    Parameter("handback_max_ticks", int, _HANDBACK.max_ticks, "rule mode: ticks in control after which the "
              "operator always hands back", (InRange(1, 10 ** 6),)),
    # Checks run in order and stop at the first problem.
), checks=(task_known, _scripted_ticks_ordered, _press_interval_exceeds_press, _handback_max_not_below_min))


def operator_config(values) -> OperatorConfig:
    """The operator core's configuration from validated parameter values."""
    return OperatorConfig(reaction_delay_steps=values["reaction_delay_steps"],
                          glove_noise_std=values["glove_noise_std"],
                          spacemouse_noise_std=values["spacemouse_noise_std"], arm_gain=values["arm_gain"],
                          handback=HandbackConfig(min_ticks=values["handback_min_ticks"],
                                                  settle_ticks=values["handback_settle_ticks"],
                                                  max_ticks=values["handback_max_ticks"]))
