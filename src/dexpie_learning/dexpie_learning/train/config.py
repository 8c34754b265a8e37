"""Training configurations: one frozen, validated dataclass per method.

All policy-training methods share `PolicyTrainConfig` (model size, optimiser, data view,
checkpointing); each method adds only what it needs. A config is built from defaults, then
a YAML/JSON file (`--config file`), then command-line overrides; every value is validated at
construction and a bad value or an unknown key is named in the error.

    config = load_config(IWRConfig, "iwr.yaml", {"steps": 500})
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from dexpie_common.stored_config import check_field_types, config_to_dict  # noqa: F401 (re-exported)
from dexpie_policy.actions.spec import REPRESENTATIONS


class TrainConfigError(ValueError):
    """A configuration value, key or file that is not valid; the message names it."""


def _check_field_types(config) -> None:
    """Every field against its annotation (dexpie_common.stored_config.check_field_types)."""
    check_field_types(config, TrainConfigError)


LR_SCHEDULES = ("cosine", "constant")
# Which demonstration episodes a policy learns from (train.data.select_demonstrations).
DEMONSTRATION_SELECTIONS = ("all", "successful")


@dataclass(frozen=True)
class PolicyTrainConfig:
    """Settings every policy-training method shares (saved with each checkpoint).

    horizon: H actions per chunk. steps: optimisation steps. epochs: 0 (the budget is
    `steps`) or the number of passes over the samples a method trains on (those of positive
    weight): steps = ceil(epochs x samples / batch_size), so methods that train on more of
    the data get proportionally more steps (the DexPIE authors train by epochs).
    max_delay_steps: training-time
    real-time chunking samples d ~ U{0..max_delay_steps}. save_every: steps between
    resumable states in <out>/train_state/ (the last step is always saved).
    padded_step_weight: loss weight of the repeated-last-command steps near episode ends.
    lr_schedule: "cosine" (linear warm-up over warmup_steps, then cosine decay to
    min_lr_ratio x learning_rate at the last step) or "constant".
    demonstrations: "all" demonstration episodes, or only the "successful" ones (a demo
    recorded as failed or aborted is dropped, one of unknown outcome kept), as a lab keeps
    the attempts that show the task (robomimic's human datasets hold successful demos only).
    Rollouts are not affected; each method's own rule applies to them.
    ema_decay: the saved policy is an exponential moving average of the weights with this
    decay (warmed up as min(ema_decay, (1 + k) / (10 + k)) at step k); 0 saves the last
    iterate. Both default off: at 2000 steps they cost the door task 19 points and helped
    nowhere (benchmarks/training_stability.py), the last iterate's spread over seeds was
    already small; the models are under- rather than over-trained at this budget.
    """
    horizon: int = 16
    steps: int = 2000
    epochs: int = 0
    batch_size: int = 256
    learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    grad_clip_norm: float = 1.0
    seed: int = 0
    hidden_size: int = 512
    num_layers: int = 3
    max_delay_steps: int = 4
    padded_step_weight: float = 0.1
    # Empty: each joint group's representation from the hand description; else the
    # representation of every group the spacemouse (arm) / the glove (fingers) drives.
    arm_representation: str = ""
    finger_representation: str = ""
    use_object_state: bool = True
    cameras: tuple[str, ...] = ()
    save_every: int = 500
    lr_schedule: str = "constant"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    ema_decay: float = 0.0
    demonstrations: str = "all"

    def __post_init__(self):
        _check_field_types(self)
        if self.demonstrations not in DEMONSTRATION_SELECTIONS:
            raise TrainConfigError(f"demonstrations must be one of {DEMONSTRATION_SELECTIONS}, "
                                   f"got {self.demonstrations!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise TrainConfigError(f"lr_schedule must be one of {LR_SCHEDULES}, got "
                                   f"{self.lr_schedule!r}")
        if self.warmup_steps < 0:
            raise TrainConfigError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise TrainConfigError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not 0 <= self.ema_decay < 1:
            raise TrainConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        for name in ("horizon", "steps", "batch_size", "hidden_size", "num_layers",
                     "save_every"):
            value = getattr(self, name)
            if value < 1:
                raise TrainConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.seed < 0:
            raise TrainConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.epochs < 0:
            raise TrainConfigError(f"epochs must be 0 (train for `steps`) or a positive "
                                   f"integer, got {self.epochs!r}")
        if not 0 <= self.max_delay_steps < self.horizon:
            raise TrainConfigError(f"max_delay_steps must be in [0, horizon), got "
                                   f"{self.max_delay_steps}")
        if not 0 < self.learning_rate < 1:
            raise TrainConfigError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        for name in ("weight_decay", "padded_step_weight"):
            if getattr(self, name) < 0:
                raise TrainConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.grad_clip_norm <= 0:
            raise TrainConfigError(f"grad_clip_norm must be > 0, got {self.grad_clip_norm}")
        for name in ("arm_representation", "finger_representation"):
            if getattr(self, name) not in ("", *REPRESENTATIONS):
                raise TrainConfigError(f"{name} must be empty (the hand's) or one of {REPRESENTATIONS}, got "
                                       f"{getattr(self, name)!r}")


@dataclass(frozen=True)
class BCConfig(PolicyTrainConfig):
    """Behaviour cloning on demonstrations (the reference policy)."""


@dataclass(frozen=True)
class HGDaggerConfig(PolicyTrainConfig):
    """HG-DAgger: demonstrations + the human-operated ticks of rollouts, unweighted."""


@dataclass(frozen=True)
class HGDaggerSuccessConfig(PolicyTrainConfig):
    """HG-DAgger on the successful episodes only: demonstrations + the human-operated ticks
    of rollouts that ended in success (the DexPIE paper's reading of the baseline)."""


@dataclass(frozen=True)
class FilteredBCConfig(PolicyTrainConfig):
    """BC on the successful episodes (demos and rollouts) only."""


@dataclass(frozen=True)
class IWRConfig(PolicyTrainConfig):
    """Intervention-weighted regression. human_to_policy_weight_ratio: total loss weight of
    human-operated samples / total weight of policy samples (1 = IWR's equal balance)."""
    human_to_policy_weight_ratio: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.human_to_policy_weight_ratio <= 0:
            raise TrainConfigError(f"human_to_policy_weight_ratio must be > 0, got "
                                   f"{self.human_to_policy_weight_ratio}")


@dataclass(frozen=True)
class AWRConfig(PolicyTrainConfig):
    """Advantage-weighted regression: w = min(exp(A / awr_temperature), max_weight),
    normalised to mean 1. A is in the critic's normalised-return units (1 = L steps), so
    0.05 = a chunk L/20 steps better than expected weighs e times more."""
    awr_temperature: float = 0.05
    max_weight: float = 20.0

    def __post_init__(self):
        super().__post_init__()
        if self.awr_temperature <= 0:
            raise TrainConfigError(f"awr_temperature must be > 0, got {self.awr_temperature}")
        if self.max_weight < 1:
            raise TrainConfigError(f"max_weight must be >= 1, got {self.max_weight}")


@dataclass(frozen=True)
class IndicatorPolicyConfig(PolicyTrainConfig):
    """The DexPIE indicator-conditioned policy. optimality_dropout: p_drop (null condition in
    training). deploy_optimality, cfg_scale: what the deployed policy is asked for (s = 1,
    w = 1.5); recorded with the checkpoint for the runner. optimality_embedding_scale: s's
    scale before its sinusoidal embedding (FlowPolicyConfig; 1 = smooth in s)."""
    optimality_dropout: float = 0.3
    deploy_optimality: float = 1.0
    cfg_scale: float = 1.5
    optimality_embedding_scale: float = 1000.0

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.optimality_dropout < 1:
            raise TrainConfigError(f"optimality_dropout must be in [0, 1), got "
                                   f"{self.optimality_dropout}")
        if not 0 <= self.deploy_optimality <= 1:
            raise TrainConfigError(f"deploy_optimality must be in [0, 1], got "
                                   f"{self.deploy_optimality}")
        if self.cfg_scale < 0:
            raise TrainConfigError(f"cfg_scale must be >= 0, got {self.cfg_scale}")
        if not self.optimality_embedding_scale > 0:
            raise TrainConfigError(f"optimality_embedding_scale must be > 0, got "
                                   f"{self.optimality_embedding_scale}")


@dataclass(frozen=True)
class BinaryIndicatorConfig(IndicatorPolicyConfig):
    """RECAP-style baseline: the same conditioned policy trained on the label store's binary
    indicator (1 for the top 40 % of samples by advantage, A_t >= q_0.6, or a fully human
    window; else 0) instead of the continuous one."""


def read_config_file(path: str | Path) -> dict:
    """A YAML (.yaml/.yml) or JSON file holding one mapping of field -> value."""
    path = Path(path)
    if not path.is_file():
        raise TrainConfigError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as error:   # yaml and json raise different error types
        raise TrainConfigError(f"config file {path}: cannot be parsed ({error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TrainConfigError(f"config file {path}: must hold a mapping, got "
                               f"{type(data).__name__}")
    return data


def config_from_dict(cls, data: dict, source: str = "config"):
    """cls(**data) with unknown keys named; construction errors re-raised as
    TrainConfigError naming the source."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrainConfigError(f"{source}: unknown keys {unknown} for {cls.__name__} "
                               f"(known: {sorted(known)})")
    try:
        return cls(**data)
    except TrainConfigError as error:
        raise TrainConfigError(f"{source}: {error}") from None


def load_config(cls, path: str | Path | None = None, overrides: dict | None = None):
    """Defaults <- file (if any) <- overrides (None values are ignored)."""
    data = read_config_file(path) if path is not None else {}
    source = f"config file {path}" if path is not None else "config"
    config_from_dict(cls, data, source)   # name the file's own errors first
    merged = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    return config_from_dict(cls, merged, source if not overrides else "config")
