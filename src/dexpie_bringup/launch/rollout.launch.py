"""ros2 launch dexpie_bringup rollout.launch.py task:=relocate checkpoint:=<policy> [sim:=true]
[record:=true] [rviz:=false] [viewer:=false] [params_file:=<robot.yaml>] [output_dir:=...] [operator:=rule]
[network:=localhost | network:=subnet domain_id:=<N>]

Every node discovers only this host unless network:=subnet (docs/lab_network.md).
viewer:=true: the live view in the browser, http://127.0.0.1:9090 (README "Live view";
[viewer_bind:=127.0.0.1] [viewer_port:=9090] [viewer_grpc_port:=9876]).

Same graph as `dexpie-launch rollout ...` (dexpie_bringup/graph.py)."""
from dexpie_bringup.launch_description import describe


def generate_launch_description():
    return describe("rollout")
