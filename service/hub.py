"""The hub: this process's rooms and connections, the gap-free join, and the fan-out.

The broker hands every event of a subscribed room to ``deliver`` once per process;
the hub asks ``protocol`` for its frame, encodes it once and writes the same bytes to
each local connection. It subscribes to a room when its first local connection
arrives and unsubscribes after the last one leaves, so a process only hears rooms it
serves, and it keeps each room's delivery position (the broker's backfill reads it).

A session uses four calls: ``register`` (a connection opened), ``join`` (into a room,
with its join burst), ``leave`` (the connection closed) and ``publish``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from . import protocol
from .broker import (
    Backend,
    BrokerEvent,
    BrokerUnavailable,
    History,
    HistoryGap,
    MemberJoined,
    Notice,
    Publication,
    PublishOptions,
)
from .connection import ClientConnection, WriteCoalescer
from .members import Member
from .observability.metrics import RelayMetrics
from .observability.snapshot import RelaySnapshot
from .transport import encode_text_frame

log = logging.getLogger("service.hub")

# Sends the join burst (welcome, member_history, message_history) to a joining
# connection, given its history and the room's members: the session's part of a join.
JoinBurst = Callable[[History, dict[str, str]], None]


@dataclass(slots=True)
class LocalRoom:
    subscribed: asyncio.Future[None]
    connections: set[ClientConnection] = field(default_factory=set)
    # Connections between subscribe and the end of their history; what arrives for
    # them meanwhile is held and later filtered against the history they were sent.
    joining: dict[ClientConnection, list[tuple[bytes, tuple[int, int] | None]]] = field(
        default_factory=dict
    )
    last_delivered: tuple[int, int] = (0, 0)  # the room's delivery position, kept only here

    @property
    def empty(self) -> bool:
        return not self.connections and not self.joining


class Hub:
    def __init__(self, backend: Backend, metrics: RelayMetrics | None = None) -> None:
        self.backend = backend
        self.metrics = metrics or RelayMetrics()
        self.rooms: dict[str, LocalRoom] = {}
        self.connections: set[ClientConnection] = set()
        self.coalescer = WriteCoalescer(self.metrics)
        self._broker = backend.broker
        self._presence = backend.presence
        self._members: dict[ClientConnection, tuple[str, str]] = {}  # -> (room, member id)
        self._subscription_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._broker.start(self)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self.backend.close()

    def snapshot(self) -> RelaySnapshot:
        return RelaySnapshot(
            connections=len(self.connections), rooms=len(self.rooms), broker=self._broker.stats()
        )

    # fan-out (hot path: called synchronously by the broker for every event)

    def deliver(self, event: BrokerEvent) -> None:
        local = self.rooms.get(event.room)
        if local is None:
            return
        pair: tuple[int, int] | None = None
        if isinstance(event, Publication):
            pair = event.position
            # A backfill after a resubscribe can overlap what already arrived live.
            if pair <= local.last_delivered:
                return
            local.last_delivered = pair
            frame = protocol.message_frame(event.message_id, event.body)
        elif isinstance(event, MemberJoined):
            frame = protocol.member_add(event.member_json)
        elif isinstance(event, HistoryGap):
            frame = protocol.resync(event.after)
        elif isinstance(event, Notice):
            frame = event.frame
        else:
            frame = protocol.member_delete(event.member_id)
        data = encode_text_frame(frame)  # once per process, whatever the audience
        connections = local.connections
        for connection in connections:
            connection.send_frame(data)
        for pending in local.joining.values():
            pending.append((data, pair))
        # Counted per frame, never per recipient (service.observability.metrics).
        metrics = self.metrics
        if pair is None:
            metrics.presence_deliveries += len(connections)
        else:
            metrics.messages_out += 1
            if connections:
                metrics.deliveries += len(connections)
                metrics.fanout_stamps.append(pair[0])  # observed after this iteration's writes

    def position(self, room: str) -> tuple[int, int] | None:
        """The newest message delivered in the room (EventSink: a backfill starts after it)."""
        local = self.rooms.get(room)
        if local is None or local.last_delivered == (0, 0):
            return None
        return local.last_delivered

    # connections

    def register(self, connection: ClientConnection) -> None:
        """A WebSocket was accepted; it counts against MAX_CONNECTIONS until ``leave``."""
        self.connections.add(connection)
        self.metrics.connections_opened += 1

    async def join(
        self,
        room: str,
        connection: ClientConnection,
        member: Member,
        since: str | None,
        limit: int,
        burst: JoinBurst,
    ) -> History:
        """Join a room without a gap: subscribe, read history, record presence, send the
        burst, then go live with what arrived meanwhile that the history did not hold.

        Whatever is published after the subscribe is either in the history read or held
        for this connection until after it. On failure, ``leave`` undoes what was done.
        """
        local = await self._attach(room, connection)
        self._members[connection] = (room, member.id)
        history = await self._broker.history(room, since, limit)
        await self._presence.join_room(room, member, connection.id)
        members = await self._presence.members(room)
        burst(history, members)
        if local is self.rooms.get(room):
            own_add = encode_text_frame(protocol.member_add(member.to_json()))
            self._activate(local, connection, history.last_id, own_add)
        self.metrics.joins += 1
        return history

    async def publish(
        self,
        room: str,
        member: Member,
        text: str,
        ref: str | None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> str:
        """Store and fan out one message and answer its id; raises BrokerUnavailable or
        HistoryFull. A ``ref`` makes the send idempotent: a retry answers the first id."""
        body = protocol.message_body(member.id, member.username, member.avatar, text, attachments)
        key = None if ref is None else f"{member.id}:{ref}"  # the key earlier releases used
        published = await self._broker.publish(room, body, PublishOptions(idempotency_key=key))
        if not published.duplicate:
            self.metrics.messages_in += 1
        assert published.message_id is not None  # a publish with history has an id
        return published.message_id

    async def leave(self, connection: ClientConnection, close_code: int) -> None:
        """The connection closed: out of its room and its presence, and no longer counted."""
        self.connections.discard(connection)
        self.metrics.closed(close_code)
        joined = self._members.pop(connection, None)
        if joined is None:
            return
        room, member_id = joined
        self._detach(room, connection)
        try:
            await self._presence.leave_room(room, member_id, connection.id)
        except BrokerUnavailable:
            # Presence expires on its own (PRESENCE_TTL) and a live process reaps it.
            log.warning(
                "could not remove presence of a closed connection; it will expire",
                extra={"conn": connection.id, "room": room},
            )

    # local rooms

    async def _attach(self, room: str, connection: ClientConnection) -> LocalRoom:
        """Register a joining connection; subscribe first if the room is new here."""
        local = self.rooms.get(room)
        if local is None:
            local = LocalRoom(subscribed=asyncio.get_running_loop().create_future())
            self.rooms[room] = local
            try:
                async with self._subscription_lock:
                    await self._broker.subscribe(room)
            except BaseException as exc:
                if self.rooms.get(room) is local:
                    del self.rooms[room]
                local.subscribed.set_exception(exc)
                local.subscribed.exception()  # retrieved: waiters re-raise it themselves
                raise
            local.subscribed.set_result(None)
        else:
            await asyncio.shield(local.subscribed)
        local.joining[connection] = []
        return local

    def _activate(
        self,
        local: LocalRoom,
        connection: ClientConnection,
        history_last: str | None,
        own_add: bytes,
    ) -> None:
        """Move a connection from joining to live, releasing what it has not seen yet.

        Messages already in the history it was sent are dropped, and so is the
        ``member_add`` announcing its own arrival (``own_add``, already in member_history).
        """
        pending = local.joining.pop(connection, [])
        seen = protocol.parse_message_id(history_last) if history_last else (0, 0)
        for frame, pair in pending:
            if pair is None:
                if frame != own_add:
                    connection.send_frame(frame)
                    self.metrics.presence_deliveries += 1
            elif pair > seen:
                connection.send_frame(frame)
                self.metrics.deliveries += 1
        local.connections.add(connection)

    def _detach(self, room: str, connection: ClientConnection) -> None:
        local = self.rooms.get(room)
        if local is None:
            return
        local.connections.discard(connection)
        local.joining.pop(connection, None)
        if local.empty:
            del self.rooms[room]
            self._spawn(self._unsubscribe_if_unused(room))

    async def _unsubscribe_if_unused(self, room: str) -> None:
        async with self._subscription_lock:
            if room in self.rooms:  # someone joined again meanwhile
                return
            try:
                await self._broker.unsubscribe(room)
            except Exception:
                log.warning("unsubscribe from room %s failed", room, exc_info=True)

    def _spawn(self, coroutine: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
