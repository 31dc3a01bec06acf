"""Moderation: bans (a member may not join until they end) and disconnects that reach every
relay. ``memory`` serves a single server; ``redis`` shares bans through keys with a TTL and
carries disconnects on one channel every relay listens to."""

from __future__ import annotations

from ..broker.settings import RedisBrokerSettings
from .base import MemberCloser, Moderation
from .memory import MemoryModeration

__all__ = ["MemberCloser", "MemoryModeration", "Moderation", "create_moderation"]


def create_moderation(redis: RedisBrokerSettings | None) -> Moderation:
    """Through Redis when the relay has one (``redis``), else in this process."""
    if redis is None:
        return MemoryModeration()
    from .redis import RedisModeration  # imported lazily, as the Redis broker is

    return RedisModeration(redis)
