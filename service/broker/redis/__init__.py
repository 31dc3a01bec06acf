"""The Redis backend: many relay processes over one Redis (or ElastiCache).

One job per module: ``keys`` (the key schema), ``clients`` (connections, scripts,
topology), ``backoff`` (reconnect delays), ``events`` (what the Lua scripts publish),
``subscriber`` (one pub/sub connection), ``fanout`` (the subscribers, their probe,
re-homing and backfill), ``history``, ``presence``, ``identity``, and ``broker`` (the
``Broker`` over history and fan-out). Lua scripts live in ``scripts/``.
"""

from __future__ import annotations

from ..base import Backend
from ..member_events import MemberEvents
from ..roster import Rosters
from ..settings import RedisBrokerSettings
from .broker import RedisBroker
from .clients import RedisClients
from .fanout import Fanout
from .history import RedisHistory
from .identity import RedisIdentityStore
from .presence import RedisPresence

__all__ = ["RedisBroker", "RedisIdentityStore", "RedisPresence", "redis_backend"]


def redis_backend(settings: RedisBrokerSettings) -> Backend:
    """The three parts over one set of clients; the fan-out keeps presence's rosters
    current from the room's events."""
    clients = RedisClients(settings)
    history = RedisHistory(clients)
    rosters = Rosters()
    fanout = Fanout(clients, history, rosters, backfill_limit=settings.history_max_len)
    broker = RedisBroker(clients, history, fanout, settings)
    presence = RedisPresence(
        clients,
        settings,
        rosters,
        MemberEvents(broker),
        hears=fanout.hears,
        served_rooms=lambda: fanout.rooms,
    )
    return Backend(
        broker=broker,
        presence=presence,
        identities=RedisIdentityStore(clients, settings),
    )
