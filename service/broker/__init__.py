"""Backends: the in-process one for a single server, the Redis one for many."""

from __future__ import annotations

from ..config import Settings
from .base import (
    Backend,
    Broker,
    BrokerUnavailable,
    EventSink,
    History,
    HistoryFull,
    IdentityStore,
    Presence,
    Published,
)
from .events import BrokerEvent, HistoryGap, MemberJoined, MemberLeft, Publication
from .memory import MemoryBroker, memory_backend

__all__ = [
    "Backend",
    "Broker",
    "BrokerEvent",
    "BrokerUnavailable",
    "EventSink",
    "History",
    "HistoryFull",
    "HistoryGap",
    "IdentityStore",
    "MemberJoined",
    "MemberLeft",
    "MemoryBroker",
    "Presence",
    "Publication",
    "Published",
    "create_backend",
    "memory_backend",
]


def create_backend(settings: Settings) -> Backend:
    if settings.redis_url is None:
        return memory_backend(
            history_max_len=settings.history_max_len,
            history_ttl=settings.history_ttl_days * 86400,
            max_history_bytes=settings.memory_history_bytes,
        )
    from .redis import redis_backend  # imported lazily: single-server mode needs no Redis client

    return redis_backend(settings)
