"""Fan-out from Redis: the subscriber connections, their health, and recovery.

One subscriber connection per process carries every room it serves (``subscriber.py``);
in cluster mode one per shard, with sharded Pub/Sub (SSUBSCRIBE/SPUBLISH), so a message
only travels within the shard that owns its room. A probe proves each subscriber still
hears; a deaf or broken one is replaced (a broken shard subscriber makes every room be
re-homed from a fresh topology), and every resubscribe backfills from the stream.
Published events are read here (``events.py``) and handed to the hub as typed events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from redis.exceptions import RedisError

from ... import protocol
from ..base import BrokerUnavailable, EventSink
from ..events import HistoryGap, MemberJoined, MemberLeft
from ..roster import Rosters
from .backoff import full_jitter, half_jitter
from .clients import STANDALONE, RedisClients
from .events import DECODE_ERRORS, MalformedEvent, decode, publication
from .history import RedisHistory
from .keys import probe_channel
from .subscriber import Subscriber

log = logging.getLogger("service.broker.redis")

HEALTH_INTERVAL = 1.0
PROBE_DEADLINE = 3.0  # seconds without a probe coming back before the subscriber is deaf


class Fanout:
    """The subscriber fleet of one process (a ``SubscriberListener``)."""

    def __init__(
        self, clients: RedisClients, history: RedisHistory, rosters: Rosters, backfill_limit: int
    ) -> None:
        self._clients = clients
        self._redis = clients.commands
        self._history = history
        self._rosters = rosters
        self._backfill_limit = backfill_limit
        self._sink: EventSink | None = None
        self._process_tag = secrets.token_hex(6)
        self._subscribers: dict[str, Subscriber] = {}  # node name -> its subscriber
        self._home: dict[str, str] = {}  # room -> node name of its subscriber
        # Newest stored id when a room was subscribed: a backfill before anything was
        # delivered starts there (the hub keeps the delivery position itself).
        self._subscribed_at: dict[str, tuple[int, int]] = {}
        self._rehoming: asyncio.Task[None] | None = None
        self._rehome_streak = 0  # re-homing rounds since every subscriber was last live
        self._health: asyncio.Task[None] | None = None
        self._closing = False
        # Counters for operators (and tests): how often recovery paths ran.
        self.deaf_restarts = 0
        self.backfilled = 0
        self.reconnects = 0

    # lifecycle

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        if self._clients.cluster:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.initialize()  # learn the topology; retried when rooms come
        else:
            self._subscriber_for(STANDALONE)
        loop = asyncio.get_running_loop()
        self._health = loop.create_task(self._health_loop(), name="redis-health")

    async def close(self) -> None:
        self._closing = True
        pending = [task for task in (self._health, self._rehoming) if task is not None]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for subscriber in list(self._subscribers.values()):
            await subscriber.stop()

    @property
    def live(self) -> bool:
        return self._rehoming is None and all(s.live for s in self._subscribers.values())

    @property
    def rooms(self) -> list[str]:
        """Rooms this process subscribes to."""
        return list(self._home)

    def hears(self, room: str) -> bool:
        """Whether the room's events reach this process right now."""
        subscriber = self._subscribers.get(self._home.get(room, ""))
        return subscriber is not None and subscriber.hears(room)

    # subscriptions

    async def subscribe(self, room: str) -> None:
        if self._rehoming is not None:
            await asyncio.shield(self._rehoming)  # the topology is being re-read
        try:
            node = self._clients.node_of(room)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"cluster topology unknown: {exc}") from exc
        self._home[room] = node
        try:
            await self._subscriber_for(node).subscribe(room)
        except TimeoutError:
            raise BrokerUnavailable(f"no subscription to room {room} in time") from None
        if room not in self._subscribed_at:
            newest = await self._history.newest(room)
            if newest is not None and room not in self._subscribed_at:
                self._subscribed_at[room] = newest

    async def unsubscribe(self, room: str) -> None:
        self._subscribed_at.pop(room, None)
        self._rosters.drop(room)
        node = self._home.pop(room, None)
        subscriber = self._subscribers.get(node) if node else None
        if subscriber is not None:
            await subscriber.unsubscribe(room)

    def _subscriber_for(self, node_name: str, *, start: bool = True) -> Subscriber:
        """The node's subscriber; a new one starts at once unless the caller starts it."""
        subscriber = self._subscribers.get(node_name)
        if subscriber is not None:
            return subscriber
        subscriber = Subscriber(
            self._clients.subscriber_client(node_name),
            self,
            name=node_name,
            sharded=self._clients.cluster,
            probe_channel=self._probe_channel(node_name),
            max_age=self._clients.max_connection_age,
        )
        self._subscribers[node_name] = subscriber
        if start:
            subscriber.start(backfill=False)
        return subscriber

    def _probe_channel(self, node_name: str) -> str:
        """This process's probe channel; in a cluster, one whose slot the node owns."""
        if not self._clients.cluster:
            return probe_channel(self._process_tag)
        for attempt in range(100_000):
            channel = probe_channel(self._process_tag, attempt)
            if self._clients.node_of_key(channel) == node_name:
                return channel
        raise RuntimeError(f"no probe channel hashes to node {node_name}")

    # what subscribers report (SubscriberListener)

    def received(self, room: str, payload: str) -> None:
        """Read a published event before it reaches the hub: one bad publish must not
        break a process (the original sample's JSON.parse crashed every server)."""
        try:
            event = decode(room, payload)
        except DECODE_ERRORS:
            log.warning("dropped a malformed frame published to room %s", room)
            return
        if isinstance(event, MemberJoined):
            self._rosters.event(room, event.member_id, event.member_json)
        elif isinstance(event, MemberLeft):
            self._rosters.event(room, event.member_id, None)
        if self._sink is not None:
            self._sink.deliver(event)

    async def resubscribed(self, rooms: list[str]) -> None:
        """Deliver what was stored while the subscriber was away; signal what cannot be."""
        self.reconnects += 1  # every resubscribe after a break, restart or re-home ends here
        sink = self._sink
        for room in rooms:
            self._rosters.drop(room)  # the subscription was interrupted: read afresh
            last = (sink.position(room) if sink else None) or self._subscribed_at.get(room)
            since = protocol.format_message_id(last) if last else None
            read = await self._history.read(room, since, self._backfill_limit)
            entries = read.entries
            if since is not None and not read.complete:
                log.warning("room %s: history no longer covers the outage; signalling a gap", room)
                if sink is not None:
                    sink.deliver(HistoryGap(room, since))
            self.backfilled += len(entries)
            for message_id, body in entries:
                try:
                    event = publication(room, message_id, body)
                except MalformedEvent:
                    log.warning("dropped a malformed stored message in room %s", room)
                    continue
                if sink is not None:
                    sink.deliver(event)

    def lost(self, subscriber: Subscriber) -> None:
        """A shard subscriber broke: re-read the topology and re-home every room."""
        if self._rehoming is None and not self._closing:
            self._rehoming = asyncio.get_running_loop().create_task(self._rehome())

    # recovery

    async def _rehome(self) -> None:
        # Until a failover completes the topology still names the dead primary: back off
        # between rounds instead of spinning on a node that is gone.
        self._rehome_streak += 1
        if self._rehome_streak > 1:
            await asyncio.sleep(half_jitter(self._rehome_streak))
        attempt = 0
        try:
            while not self._closing:
                try:
                    rooms = [r for s in self._subscribers.values() for r in s.rooms]
                    for subscriber in list(self._subscribers.values()):
                        await subscriber.stop()
                    self._subscribers.clear()
                    self._home.clear()
                    await self._redis.nodes_manager.initialize()
                    for room in rooms:
                        node = self._clients.node_of(room)
                        self._home[room] = node
                        self._subscriber_for(node, start=False).rooms.add(room)
                    for subscriber in self._subscribers.values():
                        subscriber.start(backfill=True)
                    return
                except (RedisError, OSError) as exc:
                    attempt += 1
                    delay = full_jitter(attempt)
                    log.warning("cluster topology unavailable (%s); retrying in %.2fs", exc, delay)
                    await asyncio.sleep(delay)
        finally:
            self._rehoming = None

    async def _restart(self, subscriber: Subscriber) -> None:
        """Replace a deaf subscriber with a fresh connection that backfills its rooms."""
        if self._clients.cluster:
            self.lost(subscriber)
            return
        rooms = set(subscriber.rooms)
        await subscriber.stop()
        self._subscribers.pop(subscriber.name, None)
        fresh = self._subscriber_for(subscriber.name, start=False)
        fresh.rooms |= rooms
        fresh.start(backfill=True)

    async def _health_loop(self) -> None:
        while True:
            try:
                await self._redis.ping()
                self._clients.live = True
                await self._probe()
                if self.live:
                    self._rehome_streak = 0
            except (RedisError, OSError):
                if self._clients.live:
                    log.warning("Redis is unreachable; readiness fails until it answers")
                self._clients.live = False
            await asyncio.sleep(HEALTH_INTERVAL)

    async def _probe(self) -> None:
        """Publish a numbered probe to each subscriber's own channel; check it came back.

        A subscriber connection can stay open and hear nothing (half-open TCP after a
        failover, Redis dropping it for output-buffer overflow): without a probe that
        looks exactly like a quiet chat. PUBLISH answering 0 receivers, or probes not
        arriving for PROBE_DEADLINE, replaces the subscriber (which backfills).
        """
        for subscriber in list(self._subscribers.values()):
            subscriber.probe_sent += 1
            receivers = await self._redis.execute_command(
                self._clients.publish_command, subscriber.probe_channel, subscriber.probe_sent
            )
            if not subscriber.live or self._rehoming is not None:
                continue
            overdue = subscriber.probe_sent - subscriber.probe_seen
            if receivers == 0 or overdue > PROBE_DEADLINE / HEALTH_INTERVAL:
                self.deaf_restarts += 1
                log.warning(
                    "subscriber %s is deaf (%s); reconnecting it",
                    subscriber.name,
                    "not subscribed on the server" if receivers == 0 else "probes not arriving",
                )
                await self._restart(subscriber)
