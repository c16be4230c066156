"""Polling until a condition holds: the one implementation every test and the benchmark use."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(
    predicate: Callable[[], T], timeout: float = 60, interval: float = 0.5, attempts: int = 3
) -> T | None:
    """Call predicate() until it returns something truthy, and return that; None once
    `timeout` seconds have passed and at least `attempts` calls were made (a stalled or
    suspended controller still polls a few times)."""
    deadline = time.monotonic() + timeout
    tried = 0
    while time.monotonic() < deadline or tried < attempts:
        value = predicate()
        if value:
            return value
        tried += 1
        time.sleep(interval)
    return None


def wait_until(
    predicate: Callable[[], object], timeout: float = 60, interval: float = 0.5, attempts: int = 3
) -> bool:
    """Whether predicate() held within `timeout`. Tests assert on the result; a wait is never
    an assertion by itself."""
    return poll(predicate, timeout, interval, attempts) is not None


def seconds_until(predicate: Callable[[], object], timeout: float, interval: float = 0.2) -> float:
    """Seconds until predicate() held; TimeoutError after `timeout`."""
    started = time.monotonic()
    if not wait_until(predicate, timeout, interval):
        raise TimeoutError(f"not reached within {timeout} s")
    return time.monotonic() - started
