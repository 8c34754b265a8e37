"""Test isolation for nodes: each pytest run gets its own ROS domain, discovery stays on
this machine, and MuJoCo renders offscreen with EGL. The rclpy fixtures every node test uses
live here once (rclpy is imported only by the tests that ask for them)."""
import os

import pytest

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture
def context():
    """A fresh rclpy Context per test."""
    from dexpie_common.testing import ros_context
    with ros_context() as context:
        yield context


@pytest.fixture
def ros_graph():
    """(context, executor, add) per test; added nodes are closed and destroyed afterwards."""
    from dexpie_common.testing import ros_graph
    with ros_graph() as graph:
        yield graph
