"""Join the results of one experiment configuration computed in several places.

A `--full` run can be split between machines (`dexpie-experiment --only ROW ...`) or lose
its cell folder (a machine given back); what survives is each place's `results.json`
(`ExperimentSuite.collect()` plus the derived table). `merge_results` takes one place's
collected results and others' `results.json` and returns the union: every evaluation cell
(task, training seed, variant, row, round) comes from the place that evaluated it. Nothing
is averaged or recomputed: `write_results` derives the table and the headline from the
merged entries, as from a single run's.

Refused (ValueError naming what differs), so a table never mixes settings silently:
another configuration (tasks, demos, every training and evaluation setting; training seeds
outside this run's), other demonstrations, or one cell evaluated in two places with
different outcomes. A run on fewer of the same training seeds merges: its cells are the
same cells (a `--seeds 1` run's seed 0 joins a `--seeds 3 --only-seeds 1 2` run).
"""
from __future__ import annotations

import copy
import json

# derived by write_results from the entries; recomputed after a merge, never merged
DERIVED = ("table", "round_curves", "headline")
# what an evaluation cell's outcome is (two places that both evaluated a cell must agree)
OUTCOME = ("episodes", "successes")


def cell_key(entry: dict) -> tuple:
    """(task, training seed, variant, row, round): one evaluation cell of the plan."""
    return (entry["task"], entry["seed"], entry["variant"], entry["row"], entry["round"])


def pipeline_key(entry: dict) -> str:
    """The pipeline an entry belongs to, as `collect()` names it."""
    return f"{entry['task']}/seed{entry['seed']}/{entry['variant']}"


def evaluated_keys(results: dict) -> set[tuple]:
    """The cells `results` has an evaluation of."""
    return {cell_key(e) for e in results["entries"] if e["evaluated"]}


def check_same_configuration(own: dict, other: dict, name: str) -> None:
    """ValueError naming the settings (or demonstrations, where `own` has them yet) in
    which `other` differs."""
    config = json.loads(json.dumps(own["config"]))   # as written: tuples are lists there
    # The training seeds list no cell's settings: a run of the same configuration on some
    # of these seeds (e.g. a `--seeds 1` run before `--seeds 3`) has the very same cells.
    seeds = other["config"].get("seeds")   # absent in a hand-edited file: refused below
    theirs = dict(other["config"], seeds=config["seeds"])
    if theirs != config or not isinstance(seeds, list) or not set(seeds) <= set(config["seeds"]):
        differing = _differing(config, other["config"])
        raise ValueError(f"{name} was made with other settings ({', '.join(differing)} "
                         "differ): only results of one configuration, on some or all of "
                         "its training seeds, can be merged")
    if "demos" in own and other["demos"] != own["demos"]:
        tasks = sorted(t for t in set(own["demos"]) | set(other["demos"])
                       if own["demos"].get(t) != other["demos"].get(t))
        raise ValueError(f"{name} has other demonstrations for {', '.join(tasks)}: "
                         "the same configuration must have recorded the same demos")


def merge_results(own: dict, others: dict[str, dict]) -> dict:
    """own: `collect()` of this place; others: name (e.g. a path) -> another place's
    results.json of the same configuration. Returns a new results dict, in own's plan order,
    whose entries are evaluated wherever any place evaluated them; each pipeline's report
    comes from the place that evaluated most of that pipeline's cells (own on a tie), so
    its rollouts, critic and labels describe the data behind those cells. `merged_from`
    lists, per other place, the cells taken from it."""
    merged = copy.deepcopy(own)
    for key in DERIVED:
        merged.pop(key, None)
    plan = [cell_key(e) for e in merged["entries"]]
    sources = {key: None for key in plan}       # None: own (or missing everywhere)
    position = {key: i for i, key in enumerate(plan)}
    taken = {}
    for name, other in others.items():
        check_same_configuration(own, other, name)
        foreign = [cell_key(e) for e in other["entries"] if cell_key(e) not in position]
        if foreign:
            raise ValueError(f"{name} has cells outside this plan: {_names(foreign)}")
        taken[name] = []
        for entry in other["entries"]:
            if not entry["evaluated"]:
                continue
            key = cell_key(entry)
            current = merged["entries"][position[key]]
            if current["evaluated"]:
                where = "here" if sources[key] is None else f"in {sources[key]}"
                mine = tuple(current[k] for k in OUTCOME)
                theirs = tuple(entry[k] for k in OUTCOME)
                if mine != theirs:
                    raise ValueError(f"cell {_names([key])} was evaluated twice with different "
                                     f"outcomes: {mine[1]}/{mine[0]} {where}, "
                                     f"{theirs[1]}/{theirs[0]} in {name}")
                continue
            merged["entries"][position[key]] = copy.deepcopy(entry)
            sources[key] = name
            taken[name].append(key)
    merged["pipelines"] = _pipelines(own, others, merged["entries"], sources)
    merged["merged_from"] = [dict(results=name, cells=[_names([k]) for k in keys])
                             for name, keys in taken.items()]
    return merged


def _pipelines(own: dict, others: dict[str, dict], entries: list[dict],
               sources: dict[tuple, str | None]) -> dict:
    votes: dict[str, dict] = {}
    for entry in entries:
        if entry["evaluated"]:
            tally = votes.setdefault(pipeline_key(entry), {})
            source = sources[cell_key(entry)]
            tally[source] = tally.get(source, 0) + 1
    pipelines = {}
    for key, report in own["pipelines"].items():
        tally = votes.get(key, {})
        best = max(tally, key=lambda s: (tally[s], s is None), default=None)
        pipelines[key] = copy.deepcopy(report if best is None else others[best]["pipelines"][key])
    return pipelines


def _differing(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _differing(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".") + f" ({a!r} vs {b!r})"]


def _names(keys) -> str:
    return "; ".join(f"{task} seed {seed} {variant}/{row} round {rnd}"
                     for task, seed, variant, row, rnd in keys)
