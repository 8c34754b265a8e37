"""ros2 launch dexpie_bringup teleop.launch.py task:=relocate [sim:=true] [rviz:=false]
[params_file:=<robot.yaml>] [output_dir:=...] [network:=subnet domain_id:=<N>]: demonstration
collection (arbiter in human-only mode + recorder). Same graph as `dexpie-launch teleop ...`.
Every node discovers only this host unless network:=subnet (docs/lab_network.md)."""
from dexpie_bringup.launch_description import describe


def generate_launch_description():
    return describe("teleop")
