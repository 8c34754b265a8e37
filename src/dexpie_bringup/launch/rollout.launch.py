"""ros2 launch dexpie_bringup rollout.launch.py task:=relocate checkpoint:=<policy> [sim:=true]
[record:=true] [rviz:=false] [params_file:=<robot.yaml>] [output_dir:=...] [operator:=rule]

Same graph as `dexpie-launch rollout ...` (dexpie_bringup/graph.py)."""
from dexpie_bringup.launch_description import describe


def generate_launch_description():
    return describe("rollout")
