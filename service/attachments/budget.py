"""The upload budget: at most ``per_minute`` upload slots per member in any 60 seconds.

A sliding window (a log of the last minute's slots), not a fixed one: a fixed window lets
a member take twice the budget across a minute's boundary. In memory for one relay;
``redis_records.RedisUploadBudget`` keeps the same log in Redis for every relay.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class UploadBudget(ABC):
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute

    @abstractmethod
    async def allow(self, member_id: str) -> bool:
        """Spend one upload slot of the member's budget; False (nothing spent) when none left."""


class MemoryUploadBudget(UploadBudget):
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(per_minute)
        self._clock = clock
        # member -> the times of its slots in the last minute; in order of last use, so the
        # members idle for a whole window are at the front and are forgotten.
        self._recent: dict[str, deque[float]] = {}

    async def allow(self, member_id: str) -> bool:
        now = self._clock()
        recent = self._recent.pop(member_id, None) or deque()
        self._recent[member_id] = recent  # now the most recently used
        while recent and now - recent[0] >= WINDOW_SECONDS:
            recent.popleft()
        allowed = len(recent) < self.per_minute
        if allowed:
            recent.append(now)
        self._forget_idle(now)
        return allowed

    def _forget_idle(self, now: float) -> None:
        while self._recent:
            member_id, stamps = next(iter(self._recent.items()))
            if stamps and now - stamps[-1] < WINDOW_SECONDS:
                return
            del self._recent[member_id]

    def __len__(self) -> int:
        """Members with a slot in the last minute (what the budget holds in memory)."""
        return len(self._recent)
