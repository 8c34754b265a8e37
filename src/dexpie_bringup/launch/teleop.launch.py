"""ros2 launch dexpie_bringup teleop.launch.py task:=relocate [sim:=true] [rviz:=false]
[params_file:=<robot.yaml>] [output_dir:=...]: demonstration collection (arbiter in
human-only mode + recorder). Same graph as `dexpie-launch teleop ...`."""
from dexpie_bringup.launch_description import describe


def generate_launch_description():
    return describe("teleop")
