"""In-process backend: the single-server one (no ``REDIS_URL``).

A real backend with the same guarantees as the Redis one inside one process: the
broker (``broker.py``: bounded history, idempotent publishes, tombstones) and presence
and resume identities (``presence.py``). Nothing here survives a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..base import Backend
from ..settings import MemoryBrokerSettings
from .broker import MemoryBroker, message_cost
from .presence import MemoryIdentityStore, MemoryPresence

__all__ = [
    "MemoryBroker",
    "MemoryIdentityStore",
    "MemoryPresence",
    "memory_backend",
    "message_cost",
]


def memory_backend(
    settings: MemoryBrokerSettings, clock: Callable[[], float] = time.monotonic
) -> Backend:
    """The single-server backend: one process's broker, presence and identities."""
    broker = MemoryBroker(settings, clock)
    return Backend(broker=broker, presence=MemoryPresence(broker), identities=MemoryIdentityStore())
