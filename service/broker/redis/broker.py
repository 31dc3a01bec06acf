"""The Redis ``Broker``: publish with history (``history.py``) and subscribe (``fanout.py``)
over one Redis (or ElastiCache) primary, or a Redis Cluster (REDIS_CLUSTER=true)."""

from __future__ import annotations

from ...members import Member
from ...snapshot import BrokerStats
from ..base import Broker, EventSink, History, Published
from .clients import RedisClients
from .fanout import Fanout
from .history import RedisHistory


class RedisBroker(Broker):
    def __init__(self, clients: RedisClients, history: RedisHistory, fanout: Fanout) -> None:
        self.clients = clients
        self._history = history
        self.fanout = fanout

    async def start(self, sink: EventSink) -> None:
        await self.fanout.start(sink)

    async def close(self) -> None:
        await self.fanout.close()
        await self.clients.close()

    @property
    def ready(self) -> bool:
        return self.clients.live and self.fanout.live

    def stats(self) -> BrokerStats:
        fanout = self.fanout
        return BrokerStats(
            ready=self.ready,
            reconnects=fanout.reconnects,
            deaf_restarts=fanout.deaf_restarts,
            backfilled=fanout.backfilled,
        )

    async def subscribe(self, room: str) -> None:
        await self.fanout.subscribe(room)

    async def unsubscribe(self, room: str) -> None:
        await self.fanout.unsubscribe(room)

    async def publish_message(
        self, room: str, member: Member, text: str, ref: str | None
    ) -> Published:
        return await self._history.publish(room, member, text, ref)

    async def history(self, room: str, since: str | None, limit: int) -> History:
        return await self._history.history(room, since, limit)
