"""clock:= of the graphs: the twin's lockstep clock (default) or the wall clock."""
import pytest

from dexpie_bringup.graph import GraphOptions, LOCKSTEP_FIRST_CHUNK_WAIT_S, rollout_graph, teleop_graph


def parameters(nodes):
    return {n.name: dict(n.parameters) for n in nodes}


@pytest.mark.parametrize("graph", [rollout_graph, teleop_graph])
def test_on_the_twin_every_node_runs_on_the_twins_clock_by_default(graph):
    params = parameters(graph(GraphOptions(task="door", checkpoint="/tmp/policy")))
    assert params["sim_hand"]["clock"] == "lockstep" and "use_sim_time" not in params["sim_hand"]
    for name, values in params.items():
        if name != "sim_hand":
            assert values["use_sim_time"] is True, name
    if "policy_server" in params:
        assert params["policy_server"]["first_chunk_wait"] == LOCKSTEP_FIRST_CHUNK_WAIT_S


def test_clock_wall_and_a_robot_graph_leave_every_node_on_the_wall_clock(tmp_path):
    wall = parameters(rollout_graph(GraphOptions(task="door", checkpoint="/tmp/policy", clock="wall")))
    robot_file = tmp_path / "robot.yaml"
    robot_file.write_text("{}\n")
    robot = parameters(rollout_graph(GraphOptions(checkpoint="/tmp/policy", sim=False, params_file=str(robot_file))))
    for params in (wall, robot):
        assert all("use_sim_time" not in values and "clock" not in values and "first_chunk_wait" not in values
                   for values in params.values()), params


def test_composed_nodes_keep_the_clock_parameters():
    nodes = rollout_graph(GraphOptions(task="door", checkpoint="/tmp/policy",
                                       compose="hand_controller,intervention_arbiter"))
    container = next(n for n in nodes if n.members)
    assert all(dict(m.parameters)["use_sim_time"] is True for m in container.members)


def test_an_unknown_clock_is_refused_by_name():
    with pytest.raises(ValueError, match="clock must be one of"):
        GraphOptions(task="door", checkpoint="/tmp/policy", clock="sim")
