"""Backends: the in-process one for a single server, the Redis one for many."""

from __future__ import annotations

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
from .settings import MemoryBrokerSettings, RedisBrokerSettings

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
    "MemoryBrokerSettings",
    "Notice",
    "Presence",
    "Publication",
    "PublishOptions",
    "PublishResult",
    "RedisBrokerSettings",
    "create_backend",
    "memory_backend",
]


def create_backend(settings: MemoryBrokerSettings | RedisBrokerSettings) -> Backend:
    """The backend the settings are for: in-process, or over Redis."""
    if isinstance(settings, MemoryBrokerSettings):
        return memory_backend(settings)
    from .redis import redis_backend  # imported lazily: single-server mode needs no Redis client

    return redis_backend(settings)
