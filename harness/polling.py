"""The one poller: check a condition until it holds or its deadline passes.

One deadline rule for both faces: `wait_until` blocks (for code outside an event loop:
fixtures, process start-up), `wait_for` sleeps on the event loop (for code inside one,
where blocking would stall the clients under test). Both check first and raise
`TimeoutError` naming what was awaited; neither waits without a timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Deadline:
    """`timeout` seconds from now on the monotonic clock."""

    def __init__(self, timeout: float, what: str) -> None:
        self.timeout = timeout
        self.what = what
        self.started = time.monotonic()
        self.at = self.started + timeout

    def passed(self) -> bool:
        return time.monotonic() > self.at

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def expired(self) -> TimeoutError:
        return TimeoutError(f"{self.what} not reached within {self.timeout}s")


def wait_until(
    predicate: Callable[[], T], timeout: float, interval: float = 0.05, what: str = "condition"
) -> T:
    """Block until `predicate()` is truthy; return that value, or raise TimeoutError."""
    deadline = Deadline(timeout, what)
    while True:
        result = predicate()
        if result:
            return result
        if deadline.passed():
            raise deadline.expired()
        time.sleep(interval)


async def wait_for(
    predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> float:
    """Poll on the event loop until `predicate()` is truthy; return the seconds it took,
    or raise TimeoutError."""
    deadline = Deadline(timeout, what)
    while not predicate():
        if deadline.passed():
            raise deadline.expired()
        await asyncio.sleep(interval)
    return deadline.elapsed()
