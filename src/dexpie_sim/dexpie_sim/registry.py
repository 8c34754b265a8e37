"""Task name -> (task class, operator class). Tasks are split from methods: every task
works with every policy, learner and baseline through `HandTask` and `SimOperator`."""
from __future__ import annotations

import importlib

from dexpie_sim.operators.base import OperatorConfig, SimOperator
from dexpie_sim.operators.profile import PopulationMember
from dexpie_sim.tasks.base import HandTask, TaskSpec

# name -> ("module:TaskClass", "module:OperatorClass")
_TASKS = {
    "relocate": ("dexpie_sim.tasks.relocate:RelocateTask", "dexpie_sim.operators.relocate:RelocateOperator"),
    "door": ("dexpie_sim.tasks.door:DoorTask", "dexpie_sim.operators.door:DoorOperator"),
    "hammer": ("dexpie_sim.tasks.hammer:HammerTask", "dexpie_sim.operators.hammer:HammerOperator"),
}

TASK_NAMES = tuple(_TASKS)


def _load(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def _entry(name: str):
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {list(_TASKS)}")
    return _TASKS[name]


def task_spec(name: str) -> TaskSpec:
    """The task's static description, without building its MuJoCo model."""
    return _load(_entry(name)[0]).spec


def make_task(name: str, **kwargs) -> HandTask:
    return _load(_entry(name)[0])(**kwargs)


def make_operator(name: str, task: HandTask, seed: int = 0,
                  config: OperatorConfig | None = None,
                  member: PopulationMember | None = None) -> SimOperator:
    """The task's simulated operator; `member`: a person of the operator population
    (operators/population.py) instead of the scripted expert."""
    operator_cls = _load(_entry(name)[1])
    config = config or getattr(operator_cls, "default_config", OperatorConfig())
    operator = operator_cls(task, task.make_teleop(), config, seed)
    if member is not None:
        operator.set_profile(member)
    return operator
