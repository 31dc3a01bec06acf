"""How long one Redis connection is used before the relay replaces it.

ElastiCache ends an IAM-authenticated connection 12 hours after it authenticated
(docs: auth-iam.html, "Limitations"). The relay retires its connections earlier, on its own
schedule (REDIS_MAX_CONNECTION_AGE), so no command is ever cut off by the server:

- command connections (``AgingConnection``): one past its age is closed before it sends its
  next command and reopened at once, which signs a fresh token; one past its age that is
  handed back to the pool is closed there (redis-py's ``should_reconnect``);
- pub/sub connections: the subscriber renews itself (``subscriber.py``), by the path every
  reconnect takes: subscribe again, wait for confirmation, backfill from the stream.

Each connection's age limit is jittered downwards (up to 10 %) so a relay's connections,
all opened at start, are not renewed in the same instant.
"""

from __future__ import annotations

import random
import time
from typing import Any

from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection

JITTER = 0.1


def lifetime(max_age: float) -> float:
    """One connection's age limit: ``max_age`` less up to 10 %."""
    return max_age * (1 - JITTER * random.random())


class _Aging(AbstractConnection):
    """A connection that closes itself once older than ``max_age`` (a class attribute,
    set by ``aging_class``), before sending a command or when handed back to its pool."""

    max_age: float = float("inf")
    _retire_at: float = float("inf")

    async def on_connect_check_health(self, check_health: bool = True) -> None:
        # A new socket: its age starts now (redis-py calls this once per connection made).
        self._retire_at = time.monotonic() + lifetime(self.max_age)
        await super().on_connect_check_health(check_health=check_health)

    def expired(self) -> bool:
        return self.is_connected and time.monotonic() >= self._retire_at

    def should_reconnect(self) -> bool:
        # redis-py 8.1 leaves should_reconnect unannotated; it returns a bool.
        marked: bool = super().should_reconnect()  # type: ignore[no-untyped-call]
        return marked or self.expired()

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if self.expired():
            # Nothing is in flight before a command is sent: closing here loses nothing,
            # and the reconnect below authenticates with a fresh token.
            await self.disconnect()
        await super().send_packed_command(command, check_health)


class AgingConnection(_Aging, Connection):
    pass


class AgingSSLConnection(_Aging, SSLConnection):
    pass


def aging_class(base: type[AbstractConnection], max_age: float) -> type[AbstractConnection]:
    """``base`` (redis-py's plain or TLS connection) with an age limit of ``max_age`` s."""
    parent = AgingSSLConnection if issubclass(base, SSLConnection) else AgingConnection
    return type(parent.__name__, (parent,), {"max_age": max_age})
