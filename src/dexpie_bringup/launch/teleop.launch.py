"""ros2 launch dexpie_bringup teleop.launch.py task:=relocate [sim:=true] [rviz:=false] [viewer:=false]
[params_file:=<robot.yaml>] [output_dir:=...] [network:=subnet domain_id:=<N>]: demonstration
collection (arbiter in human-only mode + recorder). Same graph as `dexpie-launch teleop ...`.
Every node discovers only this host unless network:=subnet (docs/lab_network.md).
viewer:=true: the live view in the browser, http://127.0.0.1:9090 (README "Live view";
[viewer_bind:=127.0.0.1] [viewer_port:=9090] [viewer_grpc_port:=9876])."""
from dexpie_bringup.launch_description import describe


def generate_launch_description():
    return describe("teleop")
