"""The Redis ``Broker``: publish with history (``history.py``) and subscribe (``fanout.py``)
over one Redis (or ElastiCache) primary, or a Redis Cluster (REDIS_CLUSTER=true)."""

from __future__ import annotations

from ...observability.snapshot import BrokerStats
from ..base import Body, Broker, EventSink, History, HistoryPage, PublishOptions, PublishResult
from ..events import notice
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

    async def publish(self, room: str, body: Body, options: PublishOptions) -> PublishResult:
        if not options.history:
            notice(room, body)  # refuse what no subscriber would read, as the memory broker does
        return await self._history.publish(room, body, options)

    async def history(self, room: str, since: str | None, limit: int) -> History:
        return await self._history.history(room, since, limit)

    async def history_before(self, room: str, before: str | None, limit: int) -> HistoryPage:
        return await self._history.history_before(room, before, limit)
