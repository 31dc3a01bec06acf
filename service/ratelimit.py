"""Token bucket: a steady rate with a small burst, per connection."""

from __future__ import annotations

import time


class TokenBucket:
    __slots__ = ("_capacity", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._capacity = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def wait_seconds(self) -> float:
        """After a refused ``allow``: how long until the next one would pass."""
        return max(0.0, (1.0 - self._tokens) / self._rate)

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
