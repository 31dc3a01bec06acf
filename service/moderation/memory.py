"""Moderation inside one process (single-server mode)."""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import MemberCloser, Moderation

# Bans are set through the API by a product's backend, not by clients, but they are still
# bounded: past this many, the bans ending soonest are forgotten first.
MAX_BANS = 100_000


class MemoryModeration(Moderation):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._bans: dict[str, float] = {}  # member id -> clock reading when the ban ends
        self._closer: MemberCloser | None = None

    async def start(self, closer: MemberCloser) -> None:
        self._closer = closer

    async def close(self) -> None:
        self._closer = None

    async def ban(self, member_id: str, seconds: int) -> None:
        now = self._clock()
        self._bans = {m: end for m, end in self._bans.items() if end > now}
        if seconds <= 0:
            self._bans.pop(member_id, None)
            return
        self._bans[member_id] = now + seconds
        if len(self._bans) > MAX_BANS:
            soonest = min(self._bans, key=self._bans.__getitem__)
            del self._bans[soonest]

    async def banned_for(self, member_id: str) -> float:
        end = self._bans.get(member_id)
        return 0.0 if end is None else max(0.0, end - self._clock())

    async def disconnect(self, member_id: str, reason: str) -> int:
        return 0 if self._closer is None else self._closer.disconnect_member(member_id, reason)
