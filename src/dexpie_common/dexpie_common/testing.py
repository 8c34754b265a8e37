"""Helpers for tests of nodes: wait on conditions while spinning, never on sleeps."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable


def spin_until(executor, predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    """Spin `executor` until `predicate()` holds or `timeout` seconds pass; returns predicate()."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return bool(predicate())
        executor.spin_once(timeout_sec=step)
    return True


def wait_for_subscribers(executor, publisher, count: int = 1, timeout: float = 10.0) -> bool:
    """Discovery can drop the first messages: wait until `publisher` is matched."""
    return spin_until(executor, lambda: publisher.get_subscription_count() >= count, timeout)


def wait_for_publishers(executor, subscription, count: int = 1, timeout: float = 10.0) -> bool:
    return spin_until(executor, lambda: subscription.get_publisher_count() >= count, timeout)


@contextmanager
def ros_context():
    """An rclpy Context of its own (initialised, shut down on exit): tests never share one."""
    import rclpy
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)


@contextmanager
def ros_graph():
    """(context, executor, add): `add(node)` puts a node on the executor; on exit every added
    node is closed (if it has `close`) and destroyed, then the executor and the context."""
    from rclpy.executors import SingleThreadedExecutor
    with ros_context() as context:
        executor = SingleThreadedExecutor(context=context)
        nodes = []

        def add(node):
            executor.add_node(node)
            nodes.append(node)
            return node

        try:
            yield context, executor, add
        finally:
            for node in nodes:
                if hasattr(node, "close"):
                    node.close()
                node.destroy_node()
            executor.shutdown()
