"""Parameters of the `sim_hand` node (the MuJoCo twin as hardware), declared once."""
from __future__ import annotations

from dexpie_common.parameters import InRange, OneOf, Parameter, ParameterSchema, Positive, Unique
from dexpie_sim.parameter_checks import task_known
from dexpie_sim.registry import TASK_NAMES, task_spec


def _start_stage_of_task(values) -> str | None:
    stages = task_spec(values["task"]).stages
    if values["start_stage"] not in stages:
        return f"parameter 'start_stage' = {values['start_stage']!r} rejected: task {values['task']!r} has stages {list(stages)}"
    return None


def _joint_names_match_task(values) -> str | None:
    expected = list(task_spec(values["task"]).joint_names)
    if values["joint_names"] and values["joint_names"] != expected:
        return (f"parameter 'joint_names' does not match task {values['task']!r}: expected {expected}, "
                f"got {values['joint_names']}")
    return None


SIM_HAND = ParameterSchema("sim_hand", (
    Parameter("task", str, "", "twin task to simulate (required): " + ", ".join(TASK_NAMES)),
    Parameter("rate_hz", float, 30.0, "wall-clock rate of the control tick; each tick simulates one "
              "control period of the task (1/30 s), so another rate runs faster or slower than real time",
              (InRange(1.0, 1000.0),)),
    Parameter("seed", int, 0, "seed of the randomised initial scene at start-up", (InRange(0, 2 ** 62),)),
    Parameter("start_stage", str, "init", "stage the twin starts in: 'init' or a named stage of the task"),
    Parameter("cameras", list[str], [], "model cameras rendered and published on /camera/<name>/image_raw "
              "(rgb8) every tick; empty: no images", (Unique(),)),
    Parameter("scene_markers_hz", float, 10.0, "rate of the scene's shapes on /sim/scene_markers for RViz "
              "(the hand has no URDF); 0 turns them off", (InRange(0.0, 60.0),)),
    Parameter("image_size", int, 96, "rendered image width and height in pixels", (InRange(8, 1024),)),
    Parameter("clock", str, "wall", "'wall': tick on the wall clock at rate_hz, stamps are wall time; "
              "'lockstep': the twin is the graph's clock (publishes /clock; run every other node with "
              "use_sim_time), a tick waits for the control chain's answer to the previous one (at most "
              "answer_timeout) and for the rate_hz pace, and after a reset the twin stands still until "
              "the episode's START (at most start_timeout): what the graph does per tick does not "
              "depend on the machine's load", (OneOf(("wall", "lockstep")),)),
    Parameter("answer_timeout", float, 2.0, "lockstep: the longest wall-clock wait (s) for the chain's answer "
              "to a tick once it answers ticks (a tick stepped without one is counted and logged)",
              (Positive(),)),
    Parameter("start_timeout", float, 5.0, "lockstep: the longest wall-clock stand-still (s) after a reset "
              "without an episode START on /episode/events", (Positive(),)),
    Parameter("joint_names", list[str], [], "optional check: when given, must equal the task's joint order "
              "(arm joints then finger joints), which is the order of the commands and of /joint_states"),
    # Checks run in order and stop at the first problem: the task is known for the later ones.
), checks=(task_known, _start_stage_of_task, _joint_names_match_task))
