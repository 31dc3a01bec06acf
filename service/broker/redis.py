"""Redis broker: many relay processes over one Redis (or ElastiCache) primary.

Per room, under one hash tag so a room lives on one shard:
``chat:{room}:history`` (capped stream), ``chat:{room}:conns`` / ``:counts`` /
``:members`` (presence), ``chat:{room}:ref:<member>:<ref>`` (idempotent sends) and
the channel ``chat:{room}``. Identities are ``chat:identity:<token>``.

One subscriber connection per process carries every room it serves
(``subscriber.py``); in cluster mode (REDIS_CLUSTER=true) one per shard, with
sharded Pub/Sub (SSUBSCRIBE/SPUBLISH), so a message only travels within the shard
that owns its room. Redis clients are built without automatic retries where a
silent reconnect would hide a gap: the subscribers reconnect themselves and
backfill each room from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import secrets
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .. import protocol
from ..config import Settings
from ..members import Member
from ..snapshot import BrokerStats
from .base import (
    Backend,
    Broker,
    BrokerUnavailable,
    EventSink,
    History,
    IdentityStore,
    Presence,
    Published,
)
from .events import HistoryGap, MemberJoined, MemberLeft
from .redis_events import MalformedEvent, decode, publication
from .roster import Rosters
from .subscriber import Subscriber

log = logging.getLogger("service.broker.redis")

SCRIPTS = Path(__file__).with_name("scripts")
COMMAND_TIMEOUT = 5.0
COMMAND_POOL_SIZE = 32
REF_TTL_SECONDS = 600
HEALTH_INTERVAL = 1.0
PROBE_DEADLINE = 3.0  # seconds without a probe coming back before the subscriber is deaf
RECONNECT_BASE = 0.1
RECONNECT_CAP = 5.0
CLUSTER_NODE_CONNECTIONS = 1000  # per node; RedisCluster has no waiting pool


def channel_of(room: str) -> str:
    return f"chat:{{{room}}}"


def room_of(channel: str) -> str:
    return channel[6:-1]  # "chat:{" ... "}"


def presence_keys(room: str) -> list[str]:
    return [f"chat:{{{room}}}:conns", f"chat:{{{room}}}:counts", f"chat:{{{room}}}:members"]


def node_url(url: str, node_name: str) -> str:
    """REDIS_URL pointed at one cluster node (`host:port`), keeping its scheme and query:
    `rediss` and its TLS options must reach the shard subscribers too (ElastiCache in
    cluster mode refuses plain TCP when in-transit encryption is required)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{node_name}" if credentials else node_name
    return urlunsplit(parts._replace(netloc=netloc))


def history_key(room: str) -> str:
    return f"chat:{{{room}}}:history"


def origin_key(room: str) -> str:
    """Id of the first message of the stream's current incarnation (its epoch)."""
    return f"chat:{{{room}}}:origin"


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBroker(Broker, Presence, IdentityStore):
    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url is not None
        self._settings = settings
        self._cluster = settings.redis_cluster
        self._options: dict[str, Any] = {
            "password": settings.redis_auth_token,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 0),
            "socket_connect_timeout": COMMAND_TIMEOUT,
            "health_check_interval": 0,
        }
        self._redis: Any
        if self._cluster:
            self._redis = RedisCluster.from_url(
                settings.redis_url,
                socket_timeout=COMMAND_TIMEOUT,
                max_connections=CLUSTER_NODE_CONNECTIONS,
                **self._options,
            )
        else:
            # A bounded pool that waits for a free connection: a thousand joins at once
            # must queue for connections, not open a thousand (the default pool errors).
            pool = aioredis.BlockingConnectionPool.from_url(
                settings.redis_url,
                max_connections=COMMAND_POOL_SIZE,
                timeout=COMMAND_TIMEOUT,
                socket_timeout=COMMAND_TIMEOUT,
                **self._options,
            )
            self._redis = aioredis.Redis(connection_pool=pool)
        self._publish_command = "SPUBLISH" if self._cluster else "PUBLISH"
        self._publish_script = self._script("publish.lua")
        self._refresh_script = self._script("presence_refresh.lua")
        self._leave_script = self._script("presence_leave.lua")
        self._ttl_ms = int(settings.presence_ttl * 1000)
        self._key_ttl = int(settings.presence_ttl * 3) + 1
        self._sink: EventSink | None = None
        self._process_tag = secrets.token_hex(6)
        self._subscribers: dict[str, Subscriber] = {}  # node name -> its subscriber
        self._home: dict[str, str] = {}  # room -> node name of its subscriber
        self._rehoming: asyncio.Task[None] | None = None
        self._rehome_streak = 0  # re-homing rounds since every subscriber was last live
        # Newest stored id when a room was subscribed: a backfill before anything was
        # delivered starts there (the hub keeps the delivery position itself).
        self._subscribed_at: dict[str, tuple[int, int]] = {}
        self._local: dict[str, dict[str, str]] = {}  # room -> connection key -> member json
        # Members per room, kept from presence events while a room's subscription hears it
        # (roster.py): a join into a big room reads nothing O(room size) from Redis.
        self._rosters = Rosters()
        self._commands_live = False
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        # Counters for operators (and tests): how often recovery paths ran.
        self.deaf_restarts = 0
        self.backfilled = 0
        self.reconnects = 0

    def _script(self, name: str) -> Any:
        return self._redis.register_script((SCRIPTS / name).read_text())

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Turn Redis connection trouble into BrokerUnavailable for the caller."""
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self._commands_live = False
            raise BrokerUnavailable(str(exc)) from exc

    # lifecycle

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        loop = asyncio.get_running_loop()
        if self._cluster:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.initialize()  # learn the topology; retried when rooms come
        else:
            self._subscriber_for("standalone")
        self._tasks = [
            loop.create_task(self._health_loop(), name="redis-health"),
            loop.create_task(self._presence_loop(), name="redis-presence"),
        ]

    async def close(self) -> None:
        self._closing = True
        pending = [*self._tasks, *([self._rehoming] if self._rehoming else [])]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for subscriber in list(self._subscribers.values()):
            await subscriber.stop()
        await self.leave_all()
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    @property
    def ready(self) -> bool:
        return self._commands_live and self._subscribers_live

    def stats(self) -> BrokerStats:
        return BrokerStats(
            ready=self.ready,
            reconnects=self.reconnects,
            deaf_restarts=self.deaf_restarts,
            backfilled=self.backfilled,
        )

    @property
    def _subscribers_live(self) -> bool:
        return self._rehoming is None and all(s.live for s in self._subscribers.values())

    async def _health_loop(self) -> None:
        while True:
            try:
                await self._redis.ping()
                self._commands_live = True
                await self._probe()
                if self._subscribers_live:
                    self._rehome_streak = 0
            except (RedisError, OSError):
                if self._commands_live:
                    log.warning("Redis is unreachable; readiness fails until it answers")
                self._commands_live = False
            await asyncio.sleep(HEALTH_INTERVAL)

    # subscribers

    def _node_of(self, room: str) -> str:
        if not self._cluster:
            return "standalone"
        return self._redis.get_node_from_key(channel_of(room)).name

    def _probe_channel(self, node_name: str) -> str:
        """This process's probe channel; in a cluster, one whose slot the node owns."""
        if not self._cluster:
            return f"chat:probe:{{{self._process_tag}}}"
        for attempt in range(100_000):
            channel = f"chat:probe:{{{self._process_tag}-{attempt}}}"
            if self._redis.get_node_from_key(channel).name == node_name:
                return channel
        raise RuntimeError(f"no probe channel hashes to node {node_name}")

    def _subscriber_for(self, node_name: str, *, start: bool = True) -> Subscriber:
        """The node's subscriber; a new one starts at once unless the caller starts it."""
        subscriber = self._subscribers.get(node_name)
        if subscriber is not None:
            return subscriber
        url = self._settings.redis_url
        assert url is not None
        if self._cluster:
            url = node_url(url, node_name)
        client = aioredis.Redis.from_url(url, **self._options)
        subscriber = Subscriber(
            client,
            name=node_name,
            sharded=self._cluster,
            probe_channel=self._probe_channel(node_name),
            channel_of=channel_of,
            on_message=self._dispatch,
            backfill=self._backfill,
            on_lost=self._subscriber_lost,
        )
        self._subscribers[node_name] = subscriber
        if start:
            subscriber.start(backfill=False)
        return subscriber

    def _subscriber_lost(self, subscriber: Subscriber) -> None:
        """A shard subscriber broke: re-read the topology and re-home every room."""
        if self._rehoming is None and not self._closing:
            self._rehoming = asyncio.get_running_loop().create_task(self._rehome())

    async def _rehome(self) -> None:
        # Until a failover completes the topology still names the dead primary: back off
        # (full jitter) between rounds instead of spinning on a node that is gone.
        self._rehome_streak += 1
        if self._rehome_streak > 1:
            cap = min(RECONNECT_CAP, RECONNECT_BASE * 2**self._rehome_streak)
            await asyncio.sleep(random.uniform(cap / 2, cap))
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
                        node = self._node_of(room)
                        self._home[room] = node
                        self._subscriber_for(node, start=False).rooms.add(room)
                    for subscriber in self._subscribers.values():
                        subscriber.start(backfill=True)
                    return
                except (RedisError, OSError) as exc:
                    attempt += 1
                    delay = random.uniform(0, min(5.0, 0.1 * 2**attempt))
                    log.warning("cluster topology unavailable (%s); retrying in %.2fs", exc, delay)
                    await asyncio.sleep(delay)
        finally:
            self._rehoming = None

    async def _restart(self, subscriber: Subscriber) -> None:
        """Replace a deaf subscriber with a fresh connection that backfills its rooms."""
        if self._cluster:
            self._subscriber_lost(subscriber)
            return
        rooms = set(subscriber.rooms)
        await subscriber.stop()
        self._subscribers.pop(subscriber.name, None)
        fresh = self._subscriber_for(subscriber.name, start=False)
        fresh.rooms |= rooms
        fresh.start(backfill=True)

    def _dispatch(self, room: str, payload: str) -> None:
        """Read a published event before it reaches the hub: one bad publish must not
        break a process (the original sample's JSON.parse crashed every server)."""
        try:
            event = decode(room, payload)
        except MalformedEvent:
            log.warning("dropped a malformed event published to room %s", room)
            return
        if isinstance(event, MemberJoined):
            self._rosters.event(room, event.member_id, event.member_json)
        elif isinstance(event, MemberLeft):
            self._rosters.event(room, event.member_id, None)
        if self._sink is not None:
            self._sink.deliver(event)

    async def _backfill(self, rooms: Iterable[str]) -> None:
        """Deliver what was stored while the subscriber was away; signal what cannot be."""
        self.reconnects += 1  # every resubscribe after a break, restart or re-home ends here
        sink = self._sink
        for room in rooms:
            self._rosters.drop(room)  # the subscription was interrupted: read afresh
            last = (sink.position(room) if sink else None) or self._subscribed_at.get(room)
            since = f"{last[0]}-{last[1]}" if last else None
            entries, complete = await self._read(room, since, self._settings.history_max_len)
            if since is not None and not complete:
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

    # deaf-subscriber probe

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
                self._publish_command, subscriber.probe_channel, subscriber.probe_sent
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

    # fan-out

    async def subscribe(self, room: str) -> None:
        if self._rehoming is not None:
            await asyncio.shield(self._rehoming)  # the topology is being re-read
        try:
            node = self._node_of(room)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"cluster topology unknown: {exc}") from exc
        self._home[room] = node
        try:
            await self._subscriber_for(node).subscribe(room)
        except TimeoutError:
            raise BrokerUnavailable(f"no subscription to room {room} in time") from None
        if room not in self._subscribed_at:
            async with self._guard():
                newest = await self._redis.xrevrange(history_key(room), count=1)
            if newest and room not in self._subscribed_at:
                self._subscribed_at[room] = protocol.parse_message_id(_as_str(newest[0][0]))

    async def unsubscribe(self, room: str) -> None:
        self._subscribed_at.pop(room, None)
        self._rosters.drop(room)
        node = self._home.pop(room, None)
        subscriber = self._subscribers.get(node) if node else None
        if subscriber is not None:
            await subscriber.unsubscribe(room)

    # messages

    async def publish_message(
        self, room: str, member: Member, text: str, ref: str | None
    ) -> Published:
        body = protocol.message_body(member.id, member.username, member.avatar, text)
        # Always a key in the room's slot (cluster mode checks every key's slot).
        ref_key = f"chat:{{{room}}}:ref:{member.id}:{ref or ''}"
        ttl = self._settings.history_ttl_days * 86400
        args = [channel_of(room), self._publish_command, body, self._settings.history_max_len, ttl]
        async with self._guard():
            message_id, duplicate = await self._publish_script(
                keys=[history_key(room), ref_key, origin_key(room)],
                args=[*args, REF_TTL_SECONDS, "1" if ref is not None else "0"],
            )
        return Published(message_id=_as_str(message_id), duplicate=bool(duplicate))

    async def history(self, room: str, since: str | None, limit: int) -> History:
        entries, complete = await self._read(room, since, limit)
        messages = [protocol.message_json(i, body) for i, body in entries]
        last_id = entries[-1][0] if entries else None
        return History(messages=messages, complete=complete, last_id=last_id)

    async def _read(
        self, room: str, since: str | None, limit: int
    ) -> tuple[list[tuple[str, str]], bool]:
        """(message id, body) pairs, oldest first, and whether they are complete."""
        key = history_key(room)
        async with self._guard():
            if since is None:
                entries = await self._redis.xrevrange(key, count=limit) if limit > 0 else []
                complete = True
            else:
                # Nothing can follow the largest id, and Redis refuses "(" before it.
                after_max = protocol.parse_message_id(since) == protocol.MAX_MESSAGE_ID
                async with self._redis.pipeline(transaction=False) as pipe:
                    if not after_max:
                        pipe.xrevrange(key, min=f"({since}", count=limit + 1)
                    pipe.xinfo_stream(key)
                    pipe.get(origin_key(room))
                    results = await pipe.execute(raise_on_error=False)
                entries, info, origin = ([], *results) if after_max else results
                if isinstance(entries, Exception):
                    raise entries
                more = len(entries) > limit
                entries = entries[:limit]
                complete = not more and self._covers(info, origin, since)
        entries.reverse()
        return [(_as_str(i), _as_str(f["m"])) for i, f in entries], complete

    @staticmethod
    def _covers(info: Any, origin: Any, since: str) -> bool:
        """True when the stream still holds everything after ``since``.

        ``since`` must belong to the stream's current incarnation (not older than its
        origin: a stream lost with a Redis restart, or expired, is recreated with a new
        origin), must not be older than what trimming removed (max-deleted-entry-id) and
        not newer than the last id the stream generated.
        """
        if isinstance(info, ResponseError):
            return False  # no stream: Redis lost it or it expired; we cannot prove no gap
        for result in (info, origin):
            if isinstance(result, Exception):
                raise result
        since_pair = protocol.parse_message_id(since)
        max_deleted = _as_str(info.get("max-deleted-entry-id", "0-0"))
        if since_pair < protocol.parse_message_id(max_deleted):
            return False
        # An id newer than any the stream generated (from the future, or from data Redis
        # lost) is not one we can vouch for.
        if since_pair > protocol.parse_message_id(_as_str(info["last-generated-id"])):
            return False
        return origin is None or since_pair >= protocol.parse_message_id(_as_str(origin))

    # presence

    def _connection_key(self, member_id: str, connection_id: str) -> str:
        return f"{member_id}/{connection_id}"

    async def _refresh(self, room: str, entries: dict[str, str]) -> None:
        args: list[Any] = [self._ttl_ms, channel_of(room), self._publish_command, self._key_ttl]
        for connection_key, member_json in entries.items():
            args += [connection_key, connection_key.partition("/")[0], member_json]
        await self._refresh_script(keys=presence_keys(room), args=args)

    async def join_room(self, room: str, member: Member, connection_id: str) -> None:
        key = self._connection_key(member.id, connection_id)
        member_json = member.to_json()
        self._local.setdefault(room, {})[key] = member_json
        async with self._guard():
            await self._refresh(room, {key: member_json})
        self._rosters.event(room, member.id, member_json)  # ours, before its event is back

    async def leave_room(self, room: str, member_id: str, connection_id: str) -> None:
        key = self._connection_key(member_id, connection_id)
        entries = self._local.get(room)
        if entries is not None:
            entries.pop(key, None)
            if not entries:
                del self._local[room]
        async with self._guard():
            gone = await self._leave_script(
                keys=presence_keys(room),
                args=[key, member_id, channel_of(room), self._publish_command],
            )
        if gone:
            self._rosters.event(room, member_id, None)

    async def _presence_loop(self) -> None:
        """Heartbeat this process's connections and reap other processes' dead ones."""
        interval = self._settings.presence_ttl / 4
        while True:
            await asyncio.sleep(interval)
            for room in list(set(self._home) | set(self._local)):
                try:
                    await self._refresh(room, dict(self._local.get(room, {})))
                except (RedisError, OSError):
                    break  # Redis is away; the next round re-adds everything

    async def leave_all(self) -> None:
        """On shutdown, remove this process's presence instead of leaving it to expire."""
        for room, entries in list(self._local.items()):
            for key in list(entries):
                member_id, _, connection_id = key.partition("/")
                with contextlib.suppress(Exception):
                    await self.leave_room(room, member_id, connection_id)

    async def members(self, room: str) -> dict[str, str]:
        hears = functools.partial(self._hears, room)
        members = self._rosters.get(room) if hears() else None
        if members is not None:
            return members
        async with self._guard():
            return await self._rosters.read(
                room, functools.partial(self._redis.hgetall, presence_keys(room)[2]), keep=hears
            )

    def _hears(self, room: str) -> bool:
        """Whether the room's presence events reach this process right now."""
        subscriber = self._subscribers.get(self._home.get(room, ""))
        return subscriber is not None and subscriber.hears(room)

    # identity

    async def save_identity(self, token: str, member: Member) -> None:
        ttl = self._settings.identity_ttl_days * 86400
        async with self._guard():
            await self._redis.set(f"chat:identity:{token}", member.to_json(), ex=ttl)

    async def load_identity(self, token: str) -> Member | None:
        async with self._guard():
            raw = await self._redis.get(f"chat:identity:{token}")
        return Member.from_json(raw) if raw else None


def redis_backend(settings: Settings) -> Backend:
    broker = RedisBroker(settings)
    return Backend(broker=broker, presence=broker, identities=broker)
