"""Helpers for tests of nodes: wait on conditions while spinning, never on sleeps."""
from __future__ import annotations

import time
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
