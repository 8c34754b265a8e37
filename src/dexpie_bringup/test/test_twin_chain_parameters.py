"""The in-process loops' hand controller is configured exactly as the sim graph's node."""
import numpy as np
import pytest
import yaml

from dexpie_bringup.paths import config_dir
from dexpie_control.chain import HandControllerSettings
from dexpie_control.hand_controller_parameters import SCHEMA
from dexpie_sim.registry import TASK_NAMES
from dexpie_sim.twin_chain import twin_hand_controller


@pytest.mark.parametrize("task", TASK_NAMES)
def test_twin_chain_uses_the_sim_graphs_hand_controller_parameters(task):
    document = yaml.safe_load((config_dir() / f"sim_{task}.yaml").read_text())
    section = document[SCHEMA.node]["ros__parameters"]   # the node's own entries (/** holds the hand's)
    graph = HandControllerSettings.from_parameters(SCHEMA.validate(section))
    twin = twin_hand_controller(task)
    assert twin.limits.names == graph.limits.names
    # The committed file holds 12 significant digits.
    for field in ("lower", "upper", "max_velocity"):
        np.testing.assert_allclose(getattr(twin.limits, field), getattr(graph.limits, field), rtol=1e-11, atol=1e-12)
    assert twin.control_dt == pytest.approx(graph.control_dt, rel=1e-12)
    assert twin.watchdog_timeout == graph.watchdog_timeout
