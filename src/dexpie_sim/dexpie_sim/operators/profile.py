"""How one simulated person at the glove and the spacemouse differs from the scripted expert.

The per-task operators (`operators/<task>.py`) are one consistent, privileged expert. People
are not: their reaction time varies from episode to episode, their hands wander, each has a
way of doing the task of their own (and varies it a little), they notice failures late or
not at all, hand back too early and sometimes make a correction worse. An `OperatorProfile`
states those properties for one skill tier; `SimOperator.set_profile` applies it to any
task's operator through task-generic hooks:

- delays, drawn per episode: the person steers from the scene `tracking_delay_s` old (the
  visuomotor delay of continuous tracking) and decides (takeover, hand-back, what stage the
  task is in when taking over) from the scene `reaction_delay_s` old (the reaction to a
  discrete event);
- device noise: white noise plus a slow drift (an Ornstein-Uhlenbeck process with stationary
  std `*_drift_std` and time constant `*_drift_tau_s`) on every glove channel and puck axis;
- strategy: each task operator names the parameters of its plan that people choose
  differently (`SimOperator.strategy_spread`: grasp point, approach height, speed, ... with
  a spread per parameter); a person's own choice is drawn once per identity (scaled by
  `strategy_between`), and varied per episode (`strategy_within`);
- speed: `speed` scales how fast the arm is steered;
- takeover decisions: a failure the expert would act on at once is acted on after
  `takeover_delay_s` more (drawn per event), or not at all (`takeover_miss_prob`; the
  failure check then starts afresh and may fire again later);
- hand-backs: with `early_handback_prob` per intervention the person gives control back as
  soon as the minimum intervention time has passed, recovered or not;
- failed corrections: with `failed_correction_prob` per intervention the person steers with
  a strategy drawn `failed_correction_spread` times wider than the task's spread.

All draws come from a generator of their own (seeded from the episode seed and the
identity), so an operator without a profile (the `expert` tier) does exactly what it did
before profiles existed, draw for draw.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


class ProfileError(ValueError):
    """An operator profile field is out of range (the message names the profile and field)."""


@dataclass(frozen=True)
class OperatorProfile:
    name: str
    reaction_delay_s: tuple[float, float]      # per-episode uniform range, seconds: decisions
    tracking_delay_s: tuple[float, float]      # per-episode uniform range, seconds: steering
    glove_noise_std: float                     # rad per glove channel, white
    glove_drift_std: float                     # rad, stationary std of the slow drift
    glove_drift_tau_s: float                   # s, the drift's time constant
    spacemouse_noise_std: float                # fraction of full deflection, white
    spacemouse_drift_std: float                # fraction of full deflection
    spacemouse_drift_tau_s: float              # s
    speed: float                               # x the expert's arm steering gain
    strategy_between: float                    # x the task's strategy spread, per identity
    strategy_within: float                     # x the task's strategy spread, per episode
    takeover_delay_s: tuple[float, float]      # extra decision time after a visible failure
    takeover_miss_prob: float                  # a visible failure goes unnoticed
    early_handback_prob: float                 # per intervention
    failed_correction_prob: float              # per intervention
    failed_correction_spread: float            # x the task's strategy spread in a failed one

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            where = f"operator profile {self.name!r}: {field.name}"
            if field.name == "name":
                if not isinstance(value, str) or not value:
                    raise ProfileError(f"operator profile name must be a non-empty string, got {value!r}")
            elif field.type.startswith("tuple"):
                if (not isinstance(value, tuple) or len(value) != 2
                        or not all(isinstance(v, (int, float)) for v in value)
                        or not 0 <= value[0] <= value[1]):
                    raise ProfileError(f"{where} must be (low, high) with 0 <= low <= high, got {value!r}")
            elif not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
                raise ProfileError(f"{where} must be a finite number, got {value!r}")
            elif field.name.endswith("_prob") and not 0 <= value <= 1:
                raise ProfileError(f"{where} must be a probability in [0, 1], got {value!r}")
            elif field.name.endswith("_tau_s") or field.name == "speed":
                if value <= 0:
                    raise ProfileError(f"{where} must be > 0, got {value!r}")
            elif value < 0:
                raise ProfileError(f"{where} must be >= 0, got {value!r}")


@dataclass(frozen=True)
class PopulationMember:
    """One simulated person: a skill tier's profile and an identity (their own strategy)."""
    profile: OperatorProfile | None   # None: the scripted expert, unchanged
    identity: int

    @property
    def tier(self) -> str:
        return "expert" if self.profile is None else self.profile.name


class SlowDrift:
    """Ornstein-Uhlenbeck drift per channel: stationary std `std`, time constant `tau_s`,
    stepped every `dt` seconds; starts from its stationary distribution."""

    def __init__(self, size: int, std: float, tau_s: float, dt: float, rng: np.random.Generator):
        self.decay = float(np.exp(-dt / tau_s))
        self.std = std
        self.rng = rng
        self.value = rng.normal(0.0, std, size) if std > 0 else np.zeros(size)

    def step(self) -> np.ndarray:
        if self.std > 0:
            self.value = self.decay * self.value + np.sqrt(1.0 - self.decay ** 2) * \
                self.rng.normal(0.0, self.std, self.value.shape)
        return self.value


def draw_strategy(spread: dict[str, np.ndarray | float], scale: float,
                  rng: np.random.Generator) -> dict[str, np.ndarray | float]:
    """Per strategy parameter a deviation from the task's nominal value, ~ N(0, scale * spread)."""
    return {name: rng.normal(0.0, 1.0, np.shape(sd)) * scale * np.asarray(sd, float)
            if np.ndim(sd) else float(rng.normal(0.0, 1.0) * scale * sd)
            for name, sd in spread.items()}


def ticks(seconds: float, dt: float) -> int:
    return int(round(seconds / dt))
