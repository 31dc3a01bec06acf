"""One pub/sub connection to one Redis node, carrying every served room that lives there.

Standalone Redis: one subscriber per process for all rooms (SUBSCRIBE). Cluster
mode: one per shard primary that holds a served room (SSUBSCRIBE: sharded Pub/Sub
stays on the shard instead of being broadcast to every node).

The connection is built without redis-py's silent reconnect: after any break the
subscriber resubscribes, waits until Redis confirms, and only then asks its listener
to backfill from stored history, so nothing falls between the old subscription and
the new one. It reports through ``SubscriberListener`` (the fan-out implements it) and
knows nothing of what is published. A probe published to the subscriber's own channel
proves it still hears (a half-open connection looks exactly like a quiet room).

A connection older than ``max_age`` (REDIS_MAX_CONNECTION_AGE, jittered) is renewed the
same way, on purpose and at once: ElastiCache ends IAM-authenticated connections at 12
hours, and a renewal chosen by the relay loses nothing that a cut might.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio.client import PubSub, Redis
from redis.exceptions import RedisError

from ..base import BrokerUnavailable
from .backoff import full_jitter
from .clients import as_str
from .keys import channel_of
from .lifetime import lifetime

log = logging.getLogger("service.broker.subscriber")

SUBSCRIBE_TIMEOUT = 5.0


class TopologyChanged(Exception):
    """A sharded channel moved (slot migration or failover): re-home the rooms."""


# Expected on a Redis outage. The backfill's history reads raise BrokerUnavailable: a Redis
# that restarts within the reconnect delay leaves stale connections in the command pool.
CONNECTION_TROUBLE = (TopologyChanged, BrokerUnavailable, RedisError, OSError, TimeoutError)


class SubscriberListener(Protocol):
    """What a subscriber reports to (the fan-out): it calls nothing else."""

    def received(self, room: str, payload: str) -> None:
        """A payload published on a room's channel (synchronously, in order)."""

    async def resubscribed(self, rooms: list[str]) -> None:
        """Every room is subscribed again after a break: backfill what was missed."""

    def lost(self, subscriber: Subscriber) -> None:
        """A shard subscriber broke (cluster mode): the topology must be read again."""


class Subscriber:
    def __init__(
        self,
        client: Redis,
        listener: SubscriberListener,
        *,
        name: str,
        sharded: bool,
        probe_channel: str,
        max_age: float = float("inf"),
    ) -> None:
        self.client = client
        self.name = name
        self.sharded = sharded
        self.probe_channel = probe_channel
        self.rooms: set[str] = set()
        self.live = False
        self.probe_sent = 0
        self.probe_seen = 0
        self.max_age = max_age
        self.renewals = 0  # connections retired at their age limit
        self._listener = listener
        self._room_of: dict[str, str] = {}
        self._pubsub: PubSub | None = None
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._message_kind = "smessage" if sharded else "message"
        self._confirm_kind = "ssubscribe" if sharded else "subscribe"

    # lifecycle

    def start(self, backfill: bool) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(backfill), name=f"subscriber-{self.name}"
        )

    async def stop(self) -> None:
        self.live = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self.client.aclose()

    async def _run(self, backfill: bool) -> None:
        attempt = 0
        renewed = False
        while True:
            pubsub = self.client.pubsub()
            try:
                retire_at = asyncio.get_running_loop().time() + lifetime(self.max_age)
                await self._subscribe_all(pubsub, backfill or attempt > 0 or renewed)
                attempt = 0
                self._pubsub = pubsub
                self.live = True
                await self._listen(pubsub, retire_at)
                # Past its age: renew now, by the reconnect path (subscribe, then backfill).
                log.info("subscriber %s renews its connection (age limit)", self.name)
                self.renewals += 1
                renewed = True
                self.live = False
                self._pubsub = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Whatever went wrong, the subscriber reconnects: a dead subscriber task
                # would leave its rooms deaf and the process unready for good.
                if not isinstance(exc, CONNECTION_TROUBLE):
                    log.exception("subscriber %s failed; reconnecting", self.name)
                self.live = False
                self._pubsub = None
                if self.sharded:
                    # The node may have failed over or lost slots: the broker re-reads
                    # the topology and re-homes every room, with backfill.
                    log.warning("shard subscriber %s lost (%s); re-homing rooms", self.name, exc)
                    self._listener.lost(self)
                    return
                attempt += 1
                delay = full_jitter(attempt)
                log.warning("subscriber lost Redis (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
            finally:
                # redis-py 8.1 leaves PubSub.aclose unannotated; it returns None.
                close: Callable[[], Awaitable[None]] = pubsub.aclose
                with contextlib.suppress(Exception):
                    await close()

    async def _listen(self, pubsub: PubSub, retire_at: float) -> None:
        """Hand on every message until the connection reaches its age limit."""
        age = asyncio.timeout_at(retire_at if retire_at != float("inf") else None)
        try:
            async with age:
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._handle(message)
        except TimeoutError:
            if not age.expired():
                raise

    # subscriptions

    async def _send_subscribe(self, pubsub: PubSub, channels: list[str]) -> None:
        if not self.sharded:
            await pubsub.subscribe(*channels)
            return
        for channel in channels:  # one SSUBSCRIBE per channel: slots differ
            await pubsub.ssubscribe(channel)

    async def _subscribe_all(self, pubsub: PubSub, backfill: bool) -> None:
        """Subscribe every room, wait for Redis to confirm, then backfill.

        History read after the confirmations holds everything stored before; what is
        stored later also arrives live. Live frames that come meanwhile are held and
        released after the backfill; the hub drops what the backfill delivered.
        """
        rooms = list(self.rooms)
        channels = [self.probe_channel, *(channel_of(room) for room in rooms)]
        self._room_of = {channel_of(room): room for room in rooms}
        await pubsub.ping()  # connect now, so an outage shows here
        await self._send_subscribe(pubsub, channels)
        waiting = set(channels)
        held: list[dict[str, Any]] = []
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
            while waiting:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] == self._confirm_kind:
                    waiting.discard(as_str(message["channel"]))
                    self._handle(message)
                else:
                    held.append(message)
        if backfill and rooms:
            log.info("subscriber %s (re)connected; backfilling %d rooms", self.name, len(rooms))
            await self._listener.resubscribed(rooms)
        for message in held:
            self._handle(message)

    async def subscribe(self, room: str) -> None:
        """Serve a room from this connection; returns once Redis confirmed it."""
        channel = channel_of(room)
        confirmation = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmation
        self._room_of[channel] = room
        self.rooms.add(room)
        try:
            if self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    # On failure the run loop reconnects and subscribes every room.
                    await self._send_subscribe(self._pubsub, [channel])
            await asyncio.wait_for(asyncio.shield(confirmation), SUBSCRIBE_TIMEOUT)
        except TimeoutError:
            self.rooms.discard(room)
            self._confirmations.pop(channel, None)
            raise

    def hears(self, room: str) -> bool:
        """Whether every message published to the room now reaches this connection."""
        confirmed = channel_of(room) not in self._confirmations
        return self.live and room in self.rooms and confirmed

    async def unsubscribe(self, room: str) -> None:
        self.rooms.discard(room)
        channel = channel_of(room)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                if self.sharded:
                    await self._pubsub.sunsubscribe(channel)
                else:
                    await self._pubsub.unsubscribe(channel)

    # messages

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = as_str(message["channel"])
        if kind == self._message_kind:
            if channel == self.probe_channel:
                self.probe_seen = max(self.probe_seen, int(message["data"]))
            else:
                room = self._room_of.get(channel)
                if room is not None:
                    self._listener.received(room, as_str(message["data"]))
        elif kind == self._confirm_kind:
            confirmation = self._confirmations.pop(channel, None)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(None)
        elif kind == "sunsubscribe" and self.sharded:
            room = self._room_of.get(channel)
            if room is not None and room in self.rooms:
                # Redis unsubscribed us itself: the slot moved to another shard.
                raise TopologyChanged(f"room {room} moved")
