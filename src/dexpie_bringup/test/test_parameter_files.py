"""The committed twin parameter files are what the task models generate, and every section
passes its node's schema."""
import dataclasses

import pytest
import yaml

from dexpie_bringup.paths import config_dir
from dexpie_common.hand import HandDescription, HandDescriptionError, load_hand_file
from dexpie_sim.graph_params import hand_description
from dexpie_bringup.parameter_files import ROBOT_NODES, SCHEMAS, render, robot_template
from dexpie_sim.registry import TASK_NAMES


@pytest.mark.parametrize("task", TASK_NAMES)
def test_committed_file_matches_the_model(task):
    committed = (config_dir() / f"sim_{task}.yaml").read_text()
    assert committed == render(task), (
        f"config/sim_{task}.yaml is out of date: run `.venv/bin/python -m dexpie_bringup.parameter_files`")


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_node_reads_its_section(task, tmp_path):
    path = config_dir() / f"sim_{task}.yaml"
    document = yaml.safe_load(path.read_text())
    assert set(document) == set(SCHEMAS) | {"/**"}
    # The '/**' section holds the task's hand description, as a robot's file would.
    assert load_hand_file(path) == hand_description(task)
    for node, schema in SCHEMAS.items():
        overrides = schema.overrides_from_yaml(path)
        for required in ("checkpoint", "output_dir"):
            if required in schema.by_name:
                overrides[required] = str(tmp_path)
        values = schema.validate(overrides)
        if "joint_names" in values and values.joint_names:
            assert values.joint_names == document["hand_controller"]["ros__parameters"]["joint_names"]


def test_robot_template_is_current_and_lists_every_parameter():
    path = config_dir() / "robot_template.yaml"
    assert path.read_text() == robot_template(), "regenerate: python -m dexpie_bringup.parameter_files"
    document = yaml.safe_load(path.read_text())
    assert set(document) == set(ROBOT_NODES) | {"/**"}
    hand_block = document["/**"]["ros__parameters"]["hand"]
    assert set(hand_block) == {f.name for f in dataclasses.fields(HandDescription)} | {"group_names"}
    with pytest.raises(HandDescriptionError, match="hand group 'arm': joints must be a non-empty list"):
        load_hand_file(path)   # the template's hand is to be filled in: empty is refused by name
    for node in ROBOT_NODES:
        assert set(document[node]["ros__parameters"]) == set(SCHEMAS[node].by_name)
