"""The graph description as a launch_ros LaunchDescription (imported by the launch files only;
needs the `launch` packages of a full ROS 2 install)."""
import dataclasses

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from dexpie_bringup.graph import GraphOptions, graph_by_name, ros_arguments
from dexpie_bringup.launcher import parse_launch_arguments

ARGUMENTS = [f for f in dataclasses.fields(GraphOptions) if f.name != "extra_parameters"]


def _text(value):
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe(graph: str) -> LaunchDescription:
    def nodes(context):
        pairs = [f"{f.name}:={LaunchConfiguration(f.name).perform(context)}" for f in ARGUMENTS]
        options = parse_launch_arguments(pairs)
        return [Node(package=n.package, executable=n.executable, arguments=list(n.arguments),
                     ros_arguments=ros_arguments(n)[1:], respawn=n.respawn, output="screen",
                     additional_env=dict(n.environment),   # discovery: localhost unless network:=subnet
                     on_exit=Shutdown() if n.required and not n.respawn else None)
                for n in graph_by_name(graph, options)]

    declared = [DeclareLaunchArgument(f.name, default_value=_text(f.default), description=f.metadata["help"])
                for f in ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=nodes)])
