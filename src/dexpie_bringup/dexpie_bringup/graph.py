"""The DexPIE node graphs as data: one description, two launchers.

`rollout_graph(...)` and `teleop_graph(...)` return the nodes to start, each as a
`NodeLaunch` (package, executable, node name, parameter files, parameter overrides,
remappings). `launch/rollout.launch.py` turns them into `launch_ros` Node actions on a full
ROS 2 install; `dexpie-launch` (`launcher.py`) spawns the same executables with the same
`--ros-args` where only the pip-installed runtime exists. Both go through `ros_arguments()`
so the two launchers cannot drift apart.

Discovery is closed by default: every node gets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and no
static peers (`NodeLaunch.environment`, from `network_environment(options)`), so no other
host can publish /hand/command, release a latched e-stop or end an episode. A graph that must
span hosts opts in with `network:=subnet domain_id:=<N>` (docs/lab_network.md).

How the nodes run (launch arguments, both graphs):
- `executor:=single` (default) or `events`: the rclpy executor of every DexPIE node
  (`dexpie_common.node_main`; `--executor` on each command line).
- `compose:=<node>,<node>,...`: those nodes run in one process on one executor
  (`dexpie_bringup node_container`, the ROS 2 composition of Python nodes), e.g.
  `compose:=hand_controller,intervention_arbiter`. Each keeps its name, parameters (given as
  `-p <node>:<name>:=<value>`), topics and services: `ros2 topic`/`ros2 node` see the same
  graph, remappings and recording work as before; the messages between them stay inside the
  process (Fast DDS delivers within one participant). Default: every node its own process
  (a crash or a stall of one node, e.g. the policy server, leaves the others running).
- `realtime_priority:=<1..99>`: the control chain's nodes (CHAIN_NODES) run their executor
  thread under SCHED_FIFO at that priority (`--realtime-priority`; needs CAP_SYS_NICE or an
  rtprio limit, else each says so and runs normally). Default 0: normal scheduling.
- `viewer:=true`: the live view in the browser (dexpie_viewer's `viewer` node: Rerun's web
  viewer, served from this host; README "Live view"). `viewer_bind:=127.0.0.1` (default: this
  host only; 0.0.0.0 opens it to the lab network), `viewer_port:=9090` (the page),
  `viewer_grpc_port:=9876` (its data). On the twin, sim_hand then also renders the
  `VIEWER_TWIN_CAMERA` camera for it (unless sim_hand's `cameras` are given).
- `nodes:=<node>,<node>,...` / `without:=<node>,...`: start only those nodes of the graph, or
  all but those (one graph split over hosts: `nodes:=policy_server` on the GPU workstation,
  `without:=policy_server` on the robot's computer, both with `network:=subnet domain_id:=<N>`;
  README "Two machines"). Names are the graph's node names; selected before `compose`. A
  rollout without its policy_server needs no checkpoint. Default: every node.

Pure: no rclpy, no launch imports.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from dexpie_bringup.paths import config_dir, rviz_config

SIM_TASKS = ("relocate", "door", "hammer")


@dataclass(frozen=True)
class NodeLaunch:
    """One process of the graph. parameters: values given with -p (after the files)."""
    package: str
    executable: str
    name: str
    parameter_files: tuple[str, ...] = ()
    parameters: tuple[tuple[str, object], ...] = ()
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()     # plain arguments before --ros-args (e.g. rviz2 -d)
    required: bool = True               # the graph is not usable without it
    respawn: bool = False
    environment: tuple[tuple[str, str], ...] = ()   # variables set for this process (discovery)
    members: tuple["NodeLaunch", ...] = ()   # a node_container: the nodes it runs (name: theirs, '+'-joined)


def _arg(default, help: str):
    """A launch argument: its default and the description `ros2 launch ... --show-args` and
    `dexpie-launch <graph> --show-args` print."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class GraphOptions:
    """Arguments of rollout.launch.py / `dexpie-launch rollout` (same names, same defaults)."""
    task: str = _arg("relocate", "the task: a twin task (relocate, door, hammer) with sim:=true; on a robot, "
                     "the name your episodes are filed under")
    checkpoint: str = _arg("", "policy folder for the policy server (rollout; not needed without:=policy_server)")
    sim: bool = _arg(True, "true: the MuJoCo twin and its simulated operator are the hardware; false: a real hand "
                     "(give params_file)")
    record: bool = _arg(True, "run the episode recorder (services /episode/start, /episode/end)")
    rviz: bool = _arg(False, "start RViz with rviz/dexpie.rviz (needs a full ROS 2 desktop install)")
    viewer: bool = _arg(False, "the live view in the browser (dexpie_viewer, Rerun's web viewer)")
    viewer_bind: str = _arg("127.0.0.1", "the live view's address: 127.0.0.1 this host only; 0.0.0.0 opens it "
                            "to other hosts")
    viewer_port: str = _arg("9090", "port of the live view's page")
    viewer_grpc_port: str = _arg("9876", "port of the data the live view's page reads")
    output_dir: str = _arg("runs/graph_episodes", "folder the recorder writes episode bags into")
    params_file: str = _arg("", "the hand's parameters file (robot: your copy of config/robot_template.yaml); "
                            "sim: empty = config/sim_<task>.yaml")
    operator: str = _arg("rule", "the twin's simulated operator: rule (takes over when it judges the policy "
                         "failing), scripted (at fixed ticks), never")
    operator_population: str = _arg("expert", "who the twin's simulated operator is: expert (the scripted "
                                    "operator), a skill tier (better, okay, worse) or mixed "
                                    "(dexpie_sim/operators/population.py; the sim_operator node checks "
                                    "the name)")
    network: str = _arg("localhost", "discovery: localhost (this host only) or subnet (the lab network; needs "
                        "domain_id; docs/lab_network.md)")
    domain_id: str = _arg("", "ROS_DOMAIN_ID of every node, 0..101 (empty: the environment's)")
    executor: str = _arg("single", "rclpy executor of every DexPIE node: single or events")
    compose: str = _arg("", "nodes run in one process on one executor, e.g. hand_controller,intervention_arbiter "
                        "(empty: every node its own process)")
    realtime_priority: str = _arg("0", "SCHED_FIFO priority 1..99 of the control chain's executor threads "
                                  "(0: normal scheduling)")
    clock: str = _arg("lockstep", "twin only: lockstep (the twin is the graph's clock and waits for the chain's "
                      "answer to each tick) or wall (ticks on the wall clock)")
    nodes: str = _arg("", "start only these nodes, e.g. policy_server (empty: every node)")
    without: str = _arg("", "start every node but these, e.g. policy_server")
    extra_parameters: tuple[tuple[str, str, object], ...] = field(default=())  # (node, name, value)

    def __post_init__(self):
        if self.sim and self.task not in SIM_TASKS:
            raise ValueError(f"task {self.task!r} has no twin; sim tasks: {list(SIM_TASKS)}")
        if not self.sim and not self.params_file:
            raise ValueError("on a robot (sim:=false) give params_file:=<your hand's parameter file>")
        if self.operator not in ("rule", "scripted", "never"):
            raise ValueError(f"operator must be rule, scripted or never, got {self.operator!r}")
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {list(NETWORKS)}, got {self.network!r}")
        domain = str(self.domain_id).strip()
        if domain and not (domain.isdigit() and int(domain) <= MAX_DOMAIN_ID):
            raise ValueError(f"domain_id must be an integer in [0, {MAX_DOMAIN_ID}], got {self.domain_id!r}")
        if self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {list(CLOCKS)}, got {self.clock!r}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {self.executor!r}")
        priority = str(self.realtime_priority).strip()
        if not (priority.isdigit() and int(priority) <= 99):
            raise ValueError(f"realtime_priority must be an integer in 0..99 (0: normal scheduling), "
                             f"got {self.realtime_priority!r}")
        composed = composed_names(self.compose)
        unknown = [name for name in composed if name not in COMPOSABLE]
        if unknown or len(set(composed)) != len(composed) or len(composed) == 1:
            raise ValueError(f"compose must list two or more distinct nodes of {list(COMPOSABLE)} "
                             f"separated by commas (empty: every node its own process), got {self.compose!r}")
        if composed_names(self.nodes) and composed_names(self.without):
            raise ValueError("give nodes:=<only these> or without:=<all but these>, not both")
        for name in ("nodes", "without"):
            listed = composed_names(getattr(self, name))
            if len(set(listed)) != len(listed):
                raise ValueError(f"{name} names a node twice: {getattr(self, name)!r}")
        if self.network == "subnet" and not domain:
            raise ValueError("network:=subnet needs domain_id:=<0..101>, a domain no other graph on the "
                             "lab network uses (see docs/lab_network.md)")


NETWORKS = ("localhost", "subnet")
CLOCKS = ("lockstep", "wall")           # dexpie_sim's sim_hand `clock` parameter
LOCKSTEP_FIRST_CHUNK_WAIT_S = 10.0      # policy_server first_chunk_wait on the twin's clock
EXECUTORS = ("events", "single")        # dexpie_common.node_main.EXECUTORS (no rclpy here)
# The nodes on the path of every control tick (/joint_states -> /hand/command -> the hand).
CHAIN_NODES = ("hand_controller", "intervention_arbiter", "policy_server")
# Nodes node_container can run: executable -> "module:class" (dexpie_bringup.node_container).
COMPOSABLE = {
    "hand_controller": "dexpie_control.hand_controller_node:HandController",
    "intervention_arbiter": "dexpie_teleop.intervention_arbiter_node:InterventionArbiterNode",
    "policy_server": "dexpie_policy.policy_server_node:PolicyServer",
    "episode_recorder": "dexpie_episode.episode_recorder_node:EpisodeRecorderNode",
    "sim_hand": "dexpie_sim.sim_hand_node:SimHandNode",
    "sim_operator": "dexpie_sim.sim_operator_node:SimOperatorNode",
}


def composed_names(compose: str) -> list[str]:
    return [name.strip() for name in str(compose).split(",") if name.strip()]
MAX_DOMAIN_ID = 101   # the range ROS 2 documents as safe on every platform


def network_environment(options: GraphOptions) -> tuple[tuple[str, str], ...]:
    """The discovery settings every node of the graph runs with (set in its environment).

    localhost (default): discovery stays on this host (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST)
    and no static peers are contacted (ROS_STATIC_PEERS empty), whatever the shell had.
    subnet (opt-in): discovery on the local subnet, in the explicit domain `domain_id`.
    """
    if options.network == "subnet":
        env = [("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET"), ("ROS_LOCALHOST_ONLY", "0")]
    else:
        env = [("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"), ("ROS_STATIC_PEERS", "")]
    if str(options.domain_id).strip():
        env.append(("ROS_DOMAIN_ID", str(int(options.domain_id))))
    return tuple(env)


def sim_parameter_file(task: str) -> str:
    return str(config_dir() / f"sim_{task}.yaml")


def _extra(options: GraphOptions, node: str) -> tuple[tuple[str, object], ...]:
    return tuple((name, value) for target, name, value in options.extra_parameters if target == node)


def rollout_graph(options: GraphOptions) -> list[NodeLaunch]:
    """The deployment graph: controller, arbiter, policy server (+ recorder, + twin, + RViz)."""
    files = (options.params_file,) if options.params_file else (sim_parameter_file(options.task),)
    if not options.checkpoint and starts("policy_server", options):
        raise ValueError("rollout needs checkpoint:=<policy folder>")
    nodes = [
        NodeLaunch("dexpie_control", "hand_controller", "hand_controller", files,
                   _extra(options, "hand_controller")),
        NodeLaunch("dexpie_teleop", "intervention_arbiter", "intervention_arbiter", files,
                   _extra(options, "intervention_arbiter")),
        NodeLaunch("dexpie_policy", "policy_server", "policy_server", files,
                   (("checkpoint", str(Path(options.checkpoint).resolve())),) + _extra(options, "policy_server")),
    ]
    if options.record:
        nodes.append(_recorder(options, files))
    if options.sim:
        nodes += _twin(options, files)
    if options.viewer:
        nodes.append(_viewer(options, files))
    if options.rviz:
        nodes.append(_rviz())
    return _on_network(_run_as(_on_clock(_select(nodes, options), options), options), options)


def teleop_graph(options: GraphOptions) -> list[NodeLaunch]:
    """Demonstration collection: the arbiter in human-only mode and the recorder (+ twin)."""
    files = (options.params_file,) if options.params_file else (sim_parameter_file(options.task),)
    nodes = [
        NodeLaunch("dexpie_control", "hand_controller", "hand_controller", files,
                   _extra(options, "hand_controller")),
        NodeLaunch("dexpie_teleop", "intervention_arbiter", "intervention_arbiter", files,
                   (("human_only", True),) + _extra(options, "intervention_arbiter")),
        _recorder(options, files),
    ]
    if options.sim:
        nodes += _twin(options, files)
    if options.viewer:
        nodes.append(_viewer(options, files))
    if options.rviz:
        nodes.append(_rviz())
    return _on_network(_run_as(_on_clock(_select(nodes, options), options), options), options)


def starts(name: str, options: GraphOptions) -> bool:
    """Whether `nodes:=` / `without:=` let the node called `name` start (if the graph has it)."""
    only, without = composed_names(options.nodes), composed_names(options.without)
    return (name in only) if only else name not in without


def _select(nodes: list[NodeLaunch], options: GraphOptions) -> list[NodeLaunch]:
    """The nodes `nodes:=` / `without:=` keep; a name the graph does not have is an error."""
    present = [n.name for n in nodes]
    for argument in ("nodes", "without"):
        unknown = [name for name in composed_names(getattr(options, argument)) if name not in present]
        if unknown:
            raise ValueError(f"{argument} names {unknown}, which this graph does not run (its nodes: {present})")
    kept = [n for n in nodes if starts(n.name, options)]
    if not kept:
        raise ValueError(f"without:={options.without} leaves no node to start (the graph's nodes: {present})")
    return kept


def _run_as(nodes: list[NodeLaunch], options: GraphOptions) -> list[NodeLaunch]:
    """The executor argument on every DexPIE node (and the real-time priority on the chain's),
    and the `compose` nodes in one container (at the place of the first of them)."""
    priority = int(str(options.realtime_priority).strip())
    nodes = [dataclasses.replace(n, arguments=n.arguments + ("--executor", options.executor)
                                 + (("--realtime-priority", str(priority)) if priority and n.name in CHAIN_NODES
                                    else ()))
             if n.executable in COMPOSABLE else n for n in nodes]
    composed = composed_names(options.compose)
    if not composed:
        return nodes
    present = [n.name for n in nodes]
    missing = [name for name in composed if name not in present]
    if missing:
        raise ValueError(f"compose names {missing}, which this graph does not run (its nodes: {present})")
    return compose(nodes, composed, options.executor, priority)


def compose(nodes: list[NodeLaunch], names: list[str], executor: str = "single",
            realtime_priority: int = 0) -> list[NodeLaunch]:
    """`nodes` with those named `names` replaced by one node_container running them (its
    executor thread at `realtime_priority` when one of them is a chain node)."""
    members = tuple(n for n in nodes if n.name in names)
    files = members[0].parameter_files
    for member in members:
        if member.name != member.executable or member.executable not in COMPOSABLE:
            raise ValueError(f"node {member.name!r} ({member.package}/{member.executable}) cannot be composed")
        if member.parameter_files != files or member.environment != members[0].environment:
            raise ValueError(f"composed nodes must share their parameter files and environment: "
                             f"{members[0].name} and {member.name} differ")
    container = NodeLaunch(
        "dexpie_bringup", "node_container", "+".join(m.name for m in members), files,
        arguments=tuple(m.executable for m in members) + ("--executor", executor)
        + (("--realtime-priority", str(realtime_priority))
           if realtime_priority and any(m.name in CHAIN_NODES for m in members) else ()),
        required=any(m.required for m in members), respawn=all(m.respawn for m in members),
        environment=members[0].environment, members=members)
    first = nodes.index(members[0])
    rest = [n for n in nodes if n not in members]
    return rest[:first] + [container] + rest[first:]


def _on_clock(nodes: list[NodeLaunch], options: GraphOptions) -> list[NodeLaunch]:
    """With the twin in lockstep (the default), the twin publishes /clock and every other node
    runs on it (use_sim_time): timers, watchdogs and stamps follow the twin's ticks, which wait
    for the chain's answers, so a busy machine slows simulated time down instead of changing
    what happens per tick. A robot graph (sim:=false) runs on the wall clock."""
    if not options.sim or options.clock != "lockstep":
        return nodes
    def on_twin_clock(node: NodeLaunch) -> NodeLaunch:
        if node.name == "sim_hand":
            return dataclasses.replace(node, parameters=(("clock", "lockstep"),) + node.parameters)
        # The policy's first chunk of an episode answers its tick: no fallback ticks whose
        # number would depend on how long inference took in wall time.
        first = (("first_chunk_wait", LOCKSTEP_FIRST_CHUNK_WAIT_S),) if node.name == "policy_server" else ()
        return dataclasses.replace(node, parameters=(("use_sim_time", True),) + first + node.parameters)
    return [on_twin_clock(n) for n in nodes]


def _on_network(nodes: list[NodeLaunch], options: GraphOptions) -> list[NodeLaunch]:
    """Every node with the discovery environment of `options.network`."""
    environment = network_environment(options)
    return [dataclasses.replace(node, environment=environment + node.environment) for node in nodes]


def _recorder(options: GraphOptions, files) -> NodeLaunch:
    return NodeLaunch("dexpie_episode", "episode_recorder", "episode_recorder", files,
                      (("output_dir", str(Path(options.output_dir).resolve())),)
                      + _extra(options, "episode_recorder"))


def _twin(options: GraphOptions, files) -> list[NodeLaunch]:
    operator = (("takeover_mode", options.operator),
                ("operator_population", options.operator_population)) + _extra(options, "sim_operator")
    return [
        NodeLaunch("dexpie_sim", "sim_hand", "sim_hand", files,
                   _twin_camera(options) + _extra(options, "sim_hand")),
        NodeLaunch("dexpie_sim", "sim_operator", "sim_operator", files, operator),
    ]


# The twin's camera the live view shows (a model camera of every twin task).
VIEWER_TWIN_CAMERA = "fixed"


def _twin_camera(options: GraphOptions) -> tuple[tuple[str, object], ...]:
    """sim_hand renders VIEWER_TWIN_CAMERA when the live view is on (and no cameras are given)."""
    given = [name for target, name, _ in options.extra_parameters if target == "sim_hand"]
    return (("cameras", [VIEWER_TWIN_CAMERA]),) if options.viewer and "cameras" not in given else ()


def _viewer(options: GraphOptions, files) -> NodeLaunch:
    ports = {}
    for name in ("viewer_port", "viewer_grpc_port"):
        text = str(getattr(options, name)).strip()
        if not (text.isdigit() and 1 <= int(text) <= 65535):
            raise ValueError(f"{name} must be a port number in 1..65535, got {text!r}")
        ports[name] = int(text)
    if ports["viewer_port"] == ports["viewer_grpc_port"]:
        raise ValueError(f"viewer_port and viewer_grpc_port must differ, both are {ports['viewer_port']}")
    if not str(options.viewer_bind).strip():
        raise ValueError("viewer_bind must be an address of this host, e.g. 127.0.0.1 or 0.0.0.0")
    return NodeLaunch("dexpie_viewer", "viewer", "viewer", files,
                      (("bind", str(options.viewer_bind).strip()), ("web_port", ports["viewer_port"]),
                       ("grpc_port", ports["viewer_grpc_port"])) + _extra(options, "viewer"),
                      required=False)


def _rviz() -> NodeLaunch:
    return NodeLaunch("rviz2", "rviz2", "rviz2", arguments=("-d", str(rviz_config())), required=False)


def format_value(value) -> str:
    """A parameter value as `-p name:=value` YAML text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # Quoted so that "1.0" or "true" stay strings.
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")  # YAML spelling
    return repr(value)


def ros_arguments(node: NodeLaunch) -> list[str]:
    """The node's `--ros-args` (same for both launchers: node name, files, -p, -r).

    Values are given as `-p <node>:<name>:=<value>`: a plain `-p name:=value` is filed under
    the '/**' wildcard, and when a parameters file has a '/**' block (the hand description of
    every graph file and of robot_template.yaml) the file's entry for the node wins over it,
    silently (`-p human_only:=true` after a robot file saying `human_only: false` ran the
    teleop graph's arbiter in policy mode). Addressed to the node, the value wins."""
    if node.members:
        # A container: no node-name remap (it would rename every node in it); each member's
        # values and remappings addressed to it.
        args = ["--ros-args"]
        for path in node.parameter_files:
            args += ["--params-file", str(path)]
        for member in node.members:
            args += [a for name, value in member.parameters
                     for a in ("-p", f"{member.name}:{name}:={format_value(value)}")]
        for member in node.members:
            args += [a for source, target in member.remappings for a in ("-r", f"{member.name}:{source}:={target}")]
        return args
    args = ["--ros-args", "-r", f"__node:={node.name}"]
    for path in node.parameter_files:
        args += ["--params-file", str(path)]
    for name, value in node.parameters:
        args += ["-p", f"{node.name}:{name}:={format_value(value)}"]
    for source, target in node.remappings:
        args += ["-r", f"{source}:={target}"]
    return args


def graph_by_name(name: str, options: GraphOptions) -> list[NodeLaunch]:
    graphs = {"rollout": rollout_graph, "teleop": teleop_graph}
    if name not in graphs:
        raise ValueError(f"unknown graph {name!r}; graphs: {sorted(graphs)}")
    return graphs[name](options)
