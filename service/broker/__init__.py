"""Backends: the in-process one for a single server, the Redis one for many."""

from __future__ import annotations

from ..config import Settings
from .base import (
    Backend,
    Body,
    Broker,
    BrokerUnavailable,
    EventSink,
    History,
    HistoryFull,
    HistoryPage,
    IdentityStore,
    Presence,
    PublishOptions,
    PublishResult,
)
from .events import (
    BrokerEvent,
    HistoryGap,
    MalformedEvent,
    MemberJoined,
    MemberLeft,
    Notice,
    Publication,
)
from .memory import MemoryBroker, memory_backend

__all__ = [
    "Backend",
    "Body",
    "Broker",
    "BrokerEvent",
    "BrokerUnavailable",
    "EventSink",
    "History",
    "HistoryFull",
    "HistoryGap",
    "HistoryPage",
    "IdentityStore",
    "MalformedEvent",
    "MemberJoined",
    "MemberLeft",
    "MemoryBroker",
    "Notice",
    "Presence",
    "Publication",
    "PublishOptions",
    "PublishResult",
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
