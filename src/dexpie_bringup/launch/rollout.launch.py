"""ros2 launch dexpie_bringup rollout.launch.py task:=relocate checkpoint:=<policy> [sim:=true]
[record:=true] [rviz:=false] [params_file:=<robot.yaml>] [output_dir:=...] [operator:=rule]
[network:=localhost | network:=subnet domain_id:=<N>]

Every node discovers only this host unless network:=subnet (docs/lab_network.md).

Same graph as `dexpie-launch rollout ...` (dexpie_bringup/graph.py)."""
from dexpie_bringup.launch_description import describe


def generate_launch_description():
    return describe("rollout")
