"""Test isolation for nodes: each pytest run gets its own ROS domain, discovery stays on
this machine, and MuJoCo renders offscreen with EGL."""
import os

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MUJOCO_GL", "egl")
