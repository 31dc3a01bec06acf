"""Brokers: the in-process one for a single server, the Redis one for many."""

from __future__ import annotations

from ..config import Settings
from .base import Broker, BrokerUnavailable, FrameHandler, History, HistoryFull, Published
from .memory import MemoryBroker

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "FrameHandler",
    "History",
    "HistoryFull",
    "MemoryBroker",
    "Published",
    "create_broker",
]


def create_broker(settings: Settings) -> Broker:
    if settings.redis_url is None:
        return MemoryBroker(
            history_max_len=settings.history_max_len,
            history_ttl=settings.history_ttl_days * 86400,
            max_history_bytes=settings.memory_history_bytes,
        )
    from .redis import RedisBroker  # imported lazily: single-server mode needs no Redis client

    return RedisBroker(settings)
