"""Redis broker: many relay processes over one Redis (or ElastiCache) primary.

Per room, under one hash tag so a room lives on one shard:
``chat:{room}:history`` (capped stream), ``chat:{room}:conns`` / ``:counts`` /
``:members`` (presence), ``chat:{room}:ref:<member>:<ref>`` (idempotent sends) and
the channel ``chat:{room}``. Identities are ``chat:identity:<token>``.

One subscriber connection per process carries every room it serves. Redis
clients are built without automatic retries: a silent reconnect would hide a gap,
so the subscriber reconnects itself and backfills each room from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .. import protocol
from ..config import Settings
from ..members import Member
from .base import Broker, BrokerUnavailable, FrameHandler, History, Published

log = logging.getLogger("service.broker.redis")

SCRIPTS = Path(__file__).with_name("scripts")
SUBSCRIBE_TIMEOUT = 5.0
COMMAND_TIMEOUT = 5.0
COMMAND_POOL_SIZE = 32
REF_TTL_SECONDS = 600
HEALTH_INTERVAL = 1.0
PROBE_DEADLINE = 3.0  # seconds without a probe coming back before the subscriber is deaf
RECONNECT_BASE = 0.1
RECONNECT_CAP = 5.0
PUBLISH = "PUBLISH"


def channel_of(room: str) -> str:
    return f"chat:{{{room}}}"


def room_of(channel: str) -> str:
    return channel[6:-1]  # "chat:{" ... "}"


def presence_keys(room: str) -> list[str]:
    return [f"chat:{{{room}}}:conns", f"chat:{{{room}}}:counts", f"chat:{{{room}}}:members"]


def history_key(room: str) -> str:
    return f"chat:{{{room}}}:history"


def origin_key(room: str) -> str:
    """Id of the first message of the stream's current incarnation (its epoch)."""
    return f"chat:{{{room}}}:origin"


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBroker(Broker):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        options: dict[str, Any] = {
            "password": settings.redis_auth_token,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 0),
            "socket_connect_timeout": COMMAND_TIMEOUT,
            "health_check_interval": 0,
        }
        assert settings.redis_url is not None
        # A bounded pool that waits for a free connection: a thousand joins at once must
        # queue for connections, not open a thousand (redis-py's default pool errors out).
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=COMMAND_POOL_SIZE,
            timeout=COMMAND_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            **options,
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        # The subscriber blocks on reads for as long as rooms are quiet: no read timeout.
        self._subscriber_client = aioredis.Redis.from_url(settings.redis_url, **options)
        self._publish_script = self._script("publish.lua")
        self._refresh_script = self._script("presence_refresh.lua")
        self._leave_script = self._script("presence_leave.lua")
        self._ttl_ms = int(settings.presence_ttl * 1000)
        self._key_ttl = int(settings.presence_ttl * 3) + 1
        self._on_frame: FrameHandler | None = None
        self._rooms: set[str] = set()  # rooms this process serves (subscribed or subscribing)
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._last_seen: dict[str, tuple[int, int]] = {}  # newest message id delivered, per room
        self._local: dict[str, dict[str, str]] = {}  # room -> connection key -> member json
        self._pubsub: aioredis.client.PubSub | None = None
        self._subscriber_live = False
        self._commands_live = False
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriber_task: asyncio.Task[None] | None = None
        self._closing = False
        self._probe_channel = f"chat:probe:{secrets.token_hex(6)}"
        self._probe_sent = 0
        self._probe_seen = 0
        # Counters for operators (and tests): how often recovery paths ran.
        self.deaf_restarts = 0
        self.backfilled = 0

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

    async def start(self, on_frame: FrameHandler) -> None:
        self._on_frame = on_frame
        loop = asyncio.get_running_loop()
        self._subscriber_task = loop.create_task(self._subscriber_loop(), name="redis-subscriber")
        self._tasks = [
            loop.create_task(self._health_loop(), name="redis-health"),
            loop.create_task(self._presence_loop(), name="redis-presence"),
        ]

    async def close(self) -> None:
        self._closing = True
        tasks = [self._subscriber_task, *self._tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._leave_all()
        for client in (self._redis, self._subscriber_client):
            with contextlib.suppress(Exception):
                await client.aclose()

    @property
    def ready(self) -> bool:
        return self._commands_live and self._subscriber_live

    async def _health_loop(self) -> None:
        while True:
            try:
                await self._redis.ping()
                self._commands_live = True
                await self._probe()
            except (RedisError, OSError):
                if self._commands_live:
                    log.warning("Redis is unreachable; readiness fails until it answers")
                self._commands_live = False
            await asyncio.sleep(HEALTH_INTERVAL)

    # subscriber

    async def _subscriber_loop(self, resumed: bool = False) -> None:
        attempt = 0
        while not self._closing:
            pubsub = self._subscriber_client.pubsub()
            try:
                await pubsub.ping()  # connect now, so an outage is seen here
                await self._resubscribe(pubsub, backfill=resumed or attempt > 0)
                attempt = 0
                self._pubsub = pubsub
                self._subscriber_live = True
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                self._subscriber_live = False
                self._pubsub = None
                attempt += 1
                # Full jitter: a fleet of relays must not reconnect in lockstep.
                delay = random.uniform(0, min(RECONNECT_CAP, RECONNECT_BASE * 2**attempt))
                log.warning("subscriber lost Redis (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _resubscribe(self, pubsub: aioredis.client.PubSub, backfill: bool) -> None:
        """Subscribe every served room, wait until Redis confirms, then backfill.

        Only once the subscriptions are confirmed does the backfill read history:
        whatever is stored after that read also arrives live, so nothing falls in
        between. Live frames that arrive meanwhile are held and released after the
        backfill; the hub drops the ones the backfill already delivered.
        """
        rooms = list(self._rooms)
        channels = [self._probe_channel, *(channel_of(room) for room in rooms)]
        await pubsub.subscribe(*channels)
        waiting = set(channels)
        held: list[dict[str, Any]] = []
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
            while waiting:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    waiting.discard(_as_str(message["channel"]))
                    self._handle(message)
                else:
                    held.append(message)
        if backfill:
            log.info("subscriber reconnected; backfilling %d rooms", len(rooms))
            await self._backfill(rooms)
        for message in held:
            self._handle(message)

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is not None:
                self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = _as_str(message["channel"])
        if kind == "message":
            if channel == self._probe_channel:
                self._probe_seen = max(self._probe_seen, int(message["data"]))
            else:
                self._dispatch(room_of(channel), _as_str(message["data"]))
        elif kind == "subscribe":
            confirmation = self._confirmations.pop(channel, None)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(None)

    def _dispatch(self, room: str, frame: str) -> None:
        """Check a published frame before it reaches clients: one bad publish must
        not break a process (the original sample's JSON.parse crashed every server)."""
        try:
            obj = orjson.loads(frame)
            kind = obj["type"]
            message_id = obj["message"]["id"] if kind == "messages" else None
            if kind not in {"messages", "member_add", "member_delete"}:
                raise ValueError(kind)
            if message_id is not None:
                pair = protocol.parse_message_id(message_id)
                if pair > self._last_seen.get(room, (0, 0)):
                    self._last_seen[room] = pair
        except (ValueError, KeyError, TypeError):
            log.warning("dropped a malformed frame published to room %s", room)
            return
        if self._on_frame is not None:
            self._on_frame(room, frame, message_id)

    async def _backfill(self, rooms: Iterable[str]) -> None:
        """Deliver what was stored while the subscriber was away; signal what cannot be."""
        for room in rooms:
            last = self._last_seen.get(room)
            since = f"{last[0]}-{last[1]}" if last else None
            history = await self.history(room, since, self._settings.history_max_len)
            if since is not None and not history.complete:
                log.warning("room %s: history no longer covers the outage; signalling a gap", room)
                if self._on_frame is not None:
                    self._on_frame(room, protocol.resync(since), None)
            self.backfilled += len(history.messages)
            for message in history.messages:
                self._dispatch(room, protocol.messages(message))

    # deaf-subscriber probe

    async def _probe(self) -> None:
        """Publish a numbered probe to this process's own channel and check it came back.

        A subscriber connection can stay open and hear nothing (half-open TCP after a
        failover, Redis dropping it for output-buffer overflow): without a probe that
        looks exactly like a quiet chat. PUBLISH answering 0 receivers, or probes not
        arriving for PROBE_DEADLINE, restarts the subscriber (which backfills).
        """
        self._probe_sent += 1
        receivers = await self._redis.publish(self._probe_channel, self._probe_sent)
        if not self._subscriber_live:
            return
        overdue = self._probe_sent - self._probe_seen > PROBE_DEADLINE / HEALTH_INTERVAL
        if receivers == 0 or overdue:
            self.deaf_restarts += 1
            log.warning(
                "subscriber is deaf (%s); reconnecting it",
                "not subscribed on the server" if receivers == 0 else "probes not arriving",
            )
            self._restart_subscriber()

    def _restart_subscriber(self) -> None:
        self._subscriber_live = False
        self._pubsub = None
        self._probe_seen = self._probe_sent
        self._subscriber_task.cancel()
        self._subscriber_task = asyncio.get_running_loop().create_task(
            self._subscriber_loop(resumed=True), name="redis-subscriber"
        )

    async def subscribe(self, room: str) -> None:
        channel = channel_of(room)
        confirmation = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmation
        self._rooms.add(room)
        try:
            if self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    # On failure the subscriber loop reconnects and subscribes every room.
                    await self._pubsub.subscribe(channel)
            await asyncio.wait_for(asyncio.shield(confirmation), SUBSCRIBE_TIMEOUT)
        except TimeoutError:
            self._rooms.discard(room)
            self._confirmations.pop(channel, None)
            raise BrokerUnavailable(
                f"no subscription to room {room} within {SUBSCRIBE_TIMEOUT}s"
            ) from None
        if room not in self._last_seen:
            async with self._guard():
                newest = await self._redis.xrevrange(history_key(room), count=1)
            if newest and room not in self._last_seen:
                self._last_seen[room] = protocol.parse_message_id(newest[0][0])

    async def unsubscribe(self, room: str) -> None:
        self._rooms.discard(room)
        self._last_seen.pop(room, None)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel_of(room))

    # messages

    async def publish_message(
        self, room: str, member: Member, text: str, ref: str | None
    ) -> Published:
        body = protocol.message_body(member.id, member.username, member.avatar, text)
        # Always a key in the room's slot (cluster mode checks every key's slot).
        ref_key = f"chat:{{{room}}}:ref:{member.id}:{ref or ''}"
        ttl = self._settings.history_ttl_days * 86400
        args = [channel_of(room), PUBLISH, body, self._settings.history_max_len, ttl]
        async with self._guard():
            message_id, duplicate = await self._publish_script(
                keys=[history_key(room), ref_key, origin_key(room)],
                args=[*args, REF_TTL_SECONDS, "1" if ref is not None else "0"],
            )
        return Published(message_id=_as_str(message_id), duplicate=bool(duplicate))

    async def history(self, room: str, since: str | None, limit: int) -> History:
        key = history_key(room)
        async with self._guard():
            if since is None:
                entries = await self._redis.xrevrange(key, count=limit) if limit > 0 else []
                complete = True
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.xrevrange(key, min=f"({since}", count=limit + 1)
                    pipe.xinfo_stream(key)
                    pipe.get(origin_key(room))
                    entries, info, origin = await pipe.execute(raise_on_error=False)
                if isinstance(entries, Exception):
                    raise entries
                more = len(entries) > limit
                entries = entries[:limit]
                complete = not more and self._covers(info, origin, since)
        entries.reverse()
        messages = [protocol.message_json(_as_str(i), _as_str(f["m"])) for i, f in entries]
        last_id = _as_str(entries[-1][0]) if entries else None
        return History(messages=messages, complete=complete, last_id=last_id)

    @staticmethod
    def _covers(info: Any, origin: Any, since: str) -> bool:
        """True when the stream still holds everything after ``since``.

        ``since`` must belong to the stream's current incarnation (not older than its
        origin: a stream lost with a Redis restart, or expired, is recreated with a new
        origin) and must not be older than what trimming removed (max-deleted-entry-id).
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
        return origin is None or since_pair >= protocol.parse_message_id(_as_str(origin))

    # presence

    def _connection_key(self, member_id: str, connection_id: str) -> str:
        return f"{member_id}/{connection_id}"

    async def _refresh(self, room: str, entries: dict[str, str]) -> None:
        args: list[Any] = [self._ttl_ms, channel_of(room), PUBLISH, self._key_ttl]
        for connection_key, member_json in entries.items():
            args += [connection_key, connection_key.partition("/")[0], member_json]
        await self._refresh_script(keys=presence_keys(room), args=args)

    async def join_room(self, room: str, member: Member, connection_id: str) -> None:
        key = self._connection_key(member.id, connection_id)
        member_json = member.to_json()
        self._local.setdefault(room, {})[key] = member_json
        async with self._guard():
            await self._refresh(room, {key: member_json})

    async def leave_room(self, room: str, member_id: str, connection_id: str) -> None:
        key = self._connection_key(member_id, connection_id)
        entries = self._local.get(room)
        if entries is not None:
            entries.pop(key, None)
            if not entries:
                del self._local[room]
        async with self._guard():
            await self._leave_script(
                keys=presence_keys(room), args=[key, member_id, channel_of(room), PUBLISH]
            )

    async def _presence_loop(self) -> None:
        """Heartbeat this process's connections and reap other processes' dead ones."""
        interval = self._settings.presence_ttl / 4
        while True:
            await asyncio.sleep(interval)
            for room in list(self._rooms | set(self._local)):
                try:
                    await self._refresh(room, dict(self._local.get(room, {})))
                except (RedisError, OSError):
                    break  # Redis is away; the next round re-adds everything

    async def _leave_all(self) -> None:
        """On shutdown, remove this process's presence instead of leaving it to expire."""
        for room, entries in list(self._local.items()):
            for key in list(entries):
                member_id, _, connection_id = key.partition("/")
                with contextlib.suppress(Exception):
                    await self.leave_room(room, member_id, connection_id)

    async def members(self, room: str) -> dict[str, str]:
        async with self._guard():
            return await self._redis.hgetall(presence_keys(room)[2])

    # identity

    async def save_identity(self, token: str, member: Member) -> None:
        ttl = self._settings.identity_ttl_days * 86400
        async with self._guard():
            await self._redis.set(f"chat:identity:{token}", member.to_json(), ex=ttl)

    async def load_identity(self, token: str) -> Member | None:
        async with self._guard():
            raw = await self._redis.get(f"chat:identity:{token}")
        return Member.from_json(raw) if raw else None
