"""One graph description, two launchers: the pure description, the `name:=value` arguments,
and the launch file's translation to launch_ros (checked against stand-ins of the launch API,
which the pip runtime lacks, recording what the launch file builds)."""
import sys
import types

import pytest

from dexpie_bringup.graph import GraphOptions, NodeLaunch, format_value, graph_by_name, ros_arguments
from dexpie_bringup.launcher import parse_launch_arguments
from dexpie_bringup.paths import config_dir, share_dir


def test_rollout_graph_has_the_designed_nodes(tmp_path):
    options = GraphOptions(task="door", checkpoint=str(tmp_path), record=True, sim=True)
    names = [n.name for n in graph_by_name("rollout", options)]
    assert names == ["hand_controller", "intervention_arbiter", "policy_server", "episode_recorder",
                     "sim_hand", "sim_operator"]
    no_record = graph_by_name("rollout", GraphOptions(checkpoint="x", record=False, sim=True))
    assert "episode_recorder" not in [n.name for n in no_record]
    robot = graph_by_name("rollout", GraphOptions(checkpoint="x", sim=False, params_file="/robot.yaml"))
    assert [n.name for n in robot] == ["hand_controller", "intervention_arbiter", "policy_server",
                                       "episode_recorder"]
    assert all(n.parameter_files == ("/robot.yaml",) for n in robot)


def test_teleop_graph_runs_the_arbiter_human_only():
    nodes = {n.name: n for n in graph_by_name("teleop", GraphOptions(task="hammer"))}
    assert set(nodes) == {"hand_controller", "intervention_arbiter", "episode_recorder", "sim_hand",
                          "sim_operator"}
    assert ("human_only", True) in nodes["intervention_arbiter"].parameters
    assert ("operator_population", "expert") in nodes["sim_operator"].parameters
    mixed = {n.name: n for n in graph_by_name("teleop", parse_launch_arguments(
        ["operator_population:=mixed"]))}
    assert ("operator_population", "mixed") in mixed["sim_operator"].parameters


@pytest.mark.parametrize("options, message", [
    (dict(task="juggle"), "has no twin"),
    (dict(sim=False), "params_file"),
    (dict(operator="sometimes"), "operator must be"),
])
def test_bad_options_are_rejected_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        GraphOptions(**options)


def test_rollout_without_checkpoint_is_an_error():
    with pytest.raises(ValueError, match="checkpoint"):
        graph_by_name("rollout", GraphOptions())


def test_ros_arguments_and_value_formatting():
    node = NodeLaunch("pkg", "exe", "my_node", ("/a.yaml",), (("rate_hz", 30.0), ("mode", "true"),
                      ("names", ["a", "b"]), ("on", False)), (("/x", "/y"),))
    assert ros_arguments(node) == ["--ros-args", "-r", "__node:=my_node", "--params-file", "/a.yaml",
                                   "-p", "my_node:rate_hz:=30.0", "-p", "my_node:mode:='true'",
                                   "-p", "my_node:names:=['a', 'b']", "-p", "my_node:on:=false", "-r", "/x:=/y"]
    assert format_value("it's") == "'it''s'"
    assert [format_value(v) for v in (float("inf"), -float("inf"), float("nan"))] == [".inf", "-.inf", ".nan"]


def test_launch_arguments_parse_like_ros2_launch():
    options = parse_launch_arguments(["task:=hammer", "record:=false", "checkpoint:=/p"])
    assert (options.task, options.record, options.checkpoint) == ("hammer", False, "/p")
    for bad, message in [(["task=hammer"], "name:=value"), (["speed:=3"], "unknown launch argument"),
                         (["rviz:=maybe"], "true or false")]:
        with pytest.raises(ValueError, match=message):
            parse_launch_arguments(bad)


def test_sim_parameter_files_ship_with_the_package():
    for task in ("relocate", "door", "hammer"):
        assert (config_dir() / f"sim_{task}.yaml").is_file()
    assert (share_dir() / "rviz" / "dexpie.rviz").is_file()


@pytest.fixture
def launch_api(monkeypatch):
    """Stand-ins for launch / launch_ros that record what the launch file builds."""
    built = {}

    class Recorded:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context[self.name]

    launch = types.ModuleType("launch")
    launch.LaunchDescription = lambda entities: built.setdefault("description", entities)
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument = Recorded
    actions.OpaqueFunction = Recorded
    actions.Shutdown = Recorded
    substitutions = types.ModuleType("launch.substitutions")
    substitutions.LaunchConfiguration = LaunchConfiguration
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = Recorded
    for name, module in {"launch": launch, "launch.actions": actions, "launch.substitutions": substitutions,
                         "launch_ros": launch_ros, "launch_ros.actions": ros_actions}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "dexpie_bringup.launch_description", raising=False)
    return built


@pytest.mark.parametrize("graph", ["rollout", "teleop"])
def test_launch_file_starts_the_same_processes_as_dexpie_launch(launch_api, graph):
    import runpy
    module = runpy.run_path(str(share_dir() / "launch" / f"{graph}.launch.py"))
    module["generate_launch_description"]()
    entities = launch_api["description"]
    declared = {e.args[0]: e.kwargs["default_value"] for e in entities[:-1]}
    assert declared["task"] == "relocate" and declared["sim"] == "true"
    context = dict(declared, task="door", checkpoint="/tmp/policy")
    nodes = entities[-1].kwargs["function"](context)
    expected = graph_by_name(graph, parse_launch_arguments([f"{k}:={v}" for k, v in context.items()]))
    assert [(n.kwargs["executable"], ["--ros-args"] + n.kwargs["ros_arguments"]) for n in nodes] == \
        [(e.executable, ros_arguments(e)) for e in expected]
    # and in the same discovery environment: this host only, by default
    assert [n.kwargs["additional_env"] for n in nodes] == [dict(e.environment) for e in expected]
    assert all(n.kwargs["additional_env"]["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" for n in nodes)
    assert declared["network"] == "localhost" and declared["domain_id"] == ""
    subnet = entities[-1].kwargs["function"](dict(context, network="subnet", domain_id="42"))
    assert all(n.kwargs["additional_env"]["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"
               and n.kwargs["additional_env"]["ROS_DOMAIN_ID"] == "42" for n in subnet)


@pytest.mark.parametrize("graph", ["rollout", "teleop"])
def test_every_node_discovers_only_this_host_unless_the_network_is_opted_into(graph):
    """Open by default was the finding: any host on the lab network could command the hand,
    release a latched e-stop or end an episode. Every node the launchers start gets
    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and no static peers, whatever the shell says."""
    base = ["checkpoint:=/p", "rviz:=true"]
    for nodes in (graph_by_name(graph, parse_launch_arguments(base)),
                  graph_by_name(graph, parse_launch_arguments(base + ["network:=localhost", "domain_id:=7"]))):
        assert nodes and all(("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST") in n.environment
                             and ("ROS_STATIC_PEERS", "") in n.environment for n in nodes), nodes
    assert all("ROS_DOMAIN_ID" not in dict(n.environment)
               for n in graph_by_name(graph, parse_launch_arguments(base)))
    opted = graph_by_name(graph, parse_launch_arguments(base + ["network:=subnet", "domain_id:=42"]))
    assert all(dict(n.environment) == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "ROS_LOCALHOST_ONLY": "0",
                                       "ROS_DOMAIN_ID": "42"} for n in opted), opted


@pytest.mark.parametrize("arguments, message", [
    (["network:=subnet"], r"network:=subnet needs domain_id:=<0..101>"),
    (["network:=internet", "domain_id:=3"], r"network must be one of \['localhost', 'subnet'\], got 'internet'"),
    (["network:=subnet", "domain_id:=102"], r"domain_id must be an integer in \[0, 101\], got '102'"),
    (["domain_id:=lab"], r"domain_id must be an integer in \[0, 101\], got 'lab'"),
])
def test_network_arguments_are_checked_by_name(arguments, message):
    with pytest.raises(ValueError, match=message):
        parse_launch_arguments(["checkpoint:=/p"] + arguments)


def test_dry_run_shows_each_node_s_discovery_environment(capsys):
    from dexpie_bringup.launcher import main
    assert main(["teleop", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(
        line.startswith("ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_STATIC_PEERS='' ") for line in lines), lines


def test_launcher_values_win_over_the_parameters_file_even_with_a_wildcard_block(tmp_path):
    """rcl files a plain `-p name:=value` under '/**'; with a '/**' block in the parameters file
    (every graph file has one: the hand description) the file's entry for the node won, silently:
    `dexpie-launch teleop params_file:=<robot file with human_only: false>` ran the arbiter in
    policy mode. The launchers address their values to the node, so they win."""
    import rclpy
    from rclpy.parameter import Parameter
    params = tmp_path / "robot.yaml"
    params.write_text("/**:\n  ros__parameters:\n    hand.name: my_hand\n"
                      "intervention_arbiter:\n  ros__parameters:\n    human_only: false\n    rate_hz: 30.0\n")
    launch = NodeLaunch("dexpie_teleop", "intervention_arbiter", "intervention_arbiter", (str(params),),
                        (("human_only", True),))
    context = rclpy.Context()
    rclpy.init(args=["intervention_arbiter"] + ros_arguments(launch), context=context)
    try:
        node = rclpy.create_node("renamed_by_the_launcher", context=context)
        assert node.get_name() == "intervention_arbiter"
        assert node.declare_parameter("human_only", False).value is True
        assert node.declare_parameter("rate_hz", 1.0).value == 30.0      # the file still applies
        assert node.declare_parameter("hand.name", "").value == "my_hand"
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_nodes_and_without_split_one_graph_over_two_hosts():
    """The GPU workstation starts `nodes:=policy_server`, the robot's computer
    `without:=policy_server`: together exactly the whole graph, both on the opted-in network."""
    net = ["task:=relocate", "network:=subnet", "domain_id:=42"]
    whole = graph_by_name("rollout", parse_launch_arguments(net + ["checkpoint:=/p"]))
    gpu = graph_by_name("rollout", parse_launch_arguments(net + ["checkpoint:=/p", "nodes:=policy_server"]))
    # the robot's half needs no checkpoint: it does not load the policy
    robot = graph_by_name("rollout", parse_launch_arguments(net + ["without:=policy_server"]))
    assert [n.name for n in gpu] == ["policy_server"]
    assert [n.name for n in robot] == ["hand_controller", "intervention_arbiter", "episode_recorder",
                                       "sim_hand", "sim_operator"]
    by_name = {n.name: n for n in whole}
    assert all(n == by_name[n.name] for n in gpu + robot)      # same command lines and environment
    assert sorted(n.name for n in gpu + robot) == sorted(by_name)
    assert all(dict(n.environment)["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET" for n in gpu + robot)
    # several names, and selection before composition
    two = graph_by_name("rollout", parse_launch_arguments(
        ["checkpoint:=/p", "nodes:=hand_controller,intervention_arbiter",
         "compose:=hand_controller,intervention_arbiter"]))
    assert [n.name for n in two] == ["hand_controller+intervention_arbiter"]
    teleop = graph_by_name("teleop", parse_launch_arguments(["without:=sim_hand,sim_operator"]))
    assert [n.name for n in teleop] == ["hand_controller", "intervention_arbiter", "episode_recorder"]


@pytest.mark.parametrize("graph, arguments, message", [
    ("rollout", ["nodes:=policy_server", "without:=sim_hand"], "not both"),
    ("rollout", ["nodes:=policy_sever"], r"nodes names \['policy_sever'\], which this graph does not run"),
    ("rollout", ["without:=sim_hand", "sim:=false", "params_file:=/r.yaml"], r"without names \['sim_hand'\]"),
    ("teleop", ["nodes:=policy_server"], r"nodes names \['policy_server'\]"),
    ("rollout", ["nodes:=sim_hand,sim_hand"], "names a node twice"),
    ("teleop", ["without:=hand_controller,intervention_arbiter,episode_recorder,sim_hand,sim_operator"],
     "leaves no node to start"),
    ("rollout", ["nodes:=hand_controller", "compose:=hand_controller,policy_server"],
     r"compose names \['policy_server'\], which this graph does not run"),
    ("rollout", ["nodes:=policy_server,hand_controller"], None),
])
def test_node_selection_is_checked_by_name(graph, arguments, message):
    checkpoint = [] if graph == "teleop" else ["checkpoint:=/p"]
    if message is None:
        assert len(graph_by_name(graph, parse_launch_arguments(checkpoint + arguments))) == 2
        return
    with pytest.raises(ValueError, match=message):
        graph_by_name(graph, parse_launch_arguments(checkpoint + arguments))


def test_a_rollout_with_its_policy_server_still_needs_a_checkpoint():
    for arguments in ([], ["nodes:=policy_server"], ["without:=sim_hand"]):
        with pytest.raises(ValueError, match="checkpoint"):
            graph_by_name("rollout", parse_launch_arguments(arguments))


def test_every_launch_argument_is_described_and_show_args_lists_it(capsys):
    """`ros2 launch ... --show-args` (DeclareLaunchArgument descriptions) and `dexpie-launch
    <graph> --show-args` print the same descriptions, declared once with the argument."""
    import dataclasses
    from dexpie_bringup.launcher import main
    fields = [f for f in dataclasses.fields(GraphOptions) if f.name != "extra_parameters"]
    assert all(len(f.metadata.get("help", "")) > 10 for f in fields), [f.name for f in fields]
    assert main(["rollout", "--show-args"]) == 0
    shown = capsys.readouterr().out
    for f in fields:
        assert f"'{f.name}':" in shown and f.metadata["help"] in shown
    assert "(default: 'lockstep')" in shown and "(default: 'true')" in shown
