"""Moderation: bans (a member may not join until they end) and disconnects that reach every
relay. ``memory`` serves a single server; ``redis`` shares bans through keys with a TTL and
carries disconnects on one channel every relay listens to."""

from __future__ import annotations

from ..config import Settings
from ..part_settings import redis_broker_settings
from .base import MemberCloser, Moderation
from .memory import MemoryModeration

__all__ = ["MemberCloser", "MemoryModeration", "Moderation", "create_moderation"]


def create_moderation(settings: Settings) -> Moderation:
    if settings.redis_url is None:
        return MemoryModeration()
    from .redis import RedisModeration  # imported lazily, as the Redis broker is

    return RedisModeration(redis_broker_settings(settings))
