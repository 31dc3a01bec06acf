"""The Redis ``Broker`` over one Redis (or ElastiCache) primary, or a Redis Cluster
(REDIS_CLUSTER=true): publish (one Lua script, ``scripts/publish.lua``, stores the message in
the room's stream and publishes it), history reads (``history.py``) and subscriptions
(``fanout.py``)."""

from __future__ import annotations

from ...observability.snapshot import BrokerStats
from ..base import Body, Broker, EventSink, History, HistoryPage, PublishOptions, PublishResult
from ..events import notice
from ..settings import RedisBrokerSettings
from .clients import RedisClients, as_str
from .fanout import Fanout
from .history import RedisHistory
from .keys import channel_of, history_key, origin_key, ref_key, tombstones_key


class RedisBroker(Broker):
    def __init__(
        self,
        clients: RedisClients,
        history: RedisHistory,
        fanout: Fanout,
        settings: RedisBrokerSettings,
    ) -> None:
        self.clients = clients
        self._history = history
        self.fanout = fanout
        self._max_len = settings.history_max_len
        self._ttl = settings.history_ttl
        self._format = settings.publish_format  # what the script publishes
        self._publish_script = clients.script("publish.lua")

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
        key = options.idempotency_key
        keys = [history_key(room), ref_key(room, key), origin_key(room), tombstones_key(room)]
        clients = self.clients
        async with clients.guard():
            message_id, duplicate = await self._publish_script(
                keys=keys,
                args=[
                    channel_of(room),
                    clients.publish_command,
                    body,
                    self._max_len,
                    self._ttl,
                    options.idempotency_ttl,
                    "0" if key is None else "1",
                    self._format,
                    "1" if options.history else "0",
                    options.tombstone or "",
                ],
            )
        return PublishResult(message_id=as_str(message_id) or None, duplicate=bool(duplicate))

    async def history(self, room: str, since: str | None, limit: int) -> History:
        return await self._history.history(room, since, limit)

    async def history_before(self, room: str, before: str | None, limit: int) -> HistoryPage:
        return await self._history.history_before(room, before, limit)
