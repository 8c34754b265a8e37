"""Test isolation for nodes: each pytest run gets its own ROS domain, discovery stays on
this machine, and MuJoCo renders offscreen with EGL. The rclpy fixtures every node test
shares live here too."""
import os

import pytest

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture
def context():
    """A fresh rclpy context (its own graph) per test, shut down afterwards."""
    import rclpy   # here, not at the top: most tests never start ROS
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


@pytest.fixture
def ros(context):
    """(context, a SingleThreadedExecutor on it, add): add(node) spins the node on the
    executor and, after the test, closes it (where it has close()) and destroys it."""
    from rclpy.executors import SingleThreadedExecutor
    executor = SingleThreadedExecutor(context=context)
    nodes = []

    def add(node):
        executor.add_node(node)
        nodes.append(node)
        return node

    yield context, executor, add
    for node in nodes:
        if hasattr(node, "close"):
            node.close()
        node.destroy_node()
    executor.shutdown()
