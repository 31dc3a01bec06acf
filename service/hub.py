"""The hub: this process's rooms and connections, the gap-free join, and the fan-out.

The broker hands every event of a subscribed room to ``deliver`` once per process;
the hub asks ``protocol`` for its frame, encodes it once and writes the same bytes to
each local connection. It subscribes to a room when its first local connection
arrives and unsubscribes after the last one leaves, so a process only hears rooms it
serves, and it keeps each room's delivery position (the broker's backfill reads it).

A session uses four calls: ``register`` (a connection opened), ``join`` (into a room,
with its join burst; a connection may be in many rooms), ``unsubscribe`` (out of one) and
``leave`` (the connection closed: out of all); what it writes to a room goes through
``hub.writes`` (``room_writes``). Every frame about a room names it (``protocol.in_room``),
built once per process like the frame itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine

from contract.events import MEMBER_DISCONNECTED
from contract.protocol import CLOSE_DISCONNECTED

from . import protocol, room_frames
from .broker import (
    Backend,
    BrokerEvent,
    BrokerUnavailable,
    History,
    HistoryGap,
    HistoryPage,
    MemberJoined,
    Notice,
    Publication,
)
from .broker.member_events import MemberEvents
from .connection import ClientConnection, WriteCoalescer
from .events_out import ChatEvents
from .local_room import LocalRoom, Membership
from .members import Member
from .observability.metrics import RelayMetrics
from .observability.snapshot import RelaySnapshot
from .room_writes import RoomWrites
from .transport import encode_text_frame

log = logging.getLogger("service.hub")

# Sends the join burst (welcome, member_history, message_history) to a joining
# connection, given its history and the room's members: the session's part of a join.
JoinBurst = Callable[[History, dict[str, str]], None]


class Hub:
    def __init__(
        self,
        backend: Backend,
        metrics: RelayMetrics | None = None,
        events: ChatEvents | None = None,
    ) -> None:
        self.backend = backend
        self.metrics = metrics or RelayMetrics()
        self.events = events or ChatEvents()  # events out: emitted where they happen
        self.rooms: dict[str, LocalRoom] = {}
        self.connections: set[ClientConnection] = set()
        self.coalescer = WriteCoalescer(self.metrics)
        self._broker = backend.broker
        self._presence = backend.presence
        if self.events.enabled:  # a crashed relay's connections: member.left from here
            self._presence.on_connection_lost = self.events.connection_lost
        self._member_events = MemberEvents(backend.broker)
        self.writes = RoomWrites(backend.broker, self.metrics, self.events, self.rooms)
        self._members: dict[ClientConnection, Membership] = {}
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
            member = room_frames.typist(frame)
            if member is not None:
                self._deliver_typing(
                    local, encode_text_frame(protocol.in_room(event.room, frame)), member
                )
                return
        else:
            frame = protocol.member_delete(event.member_id)
        # Once per process, whatever the audience.
        data = encode_text_frame(protocol.in_room(event.room, frame))
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
        membership = self._members.setdefault(connection, Membership(member.id))
        membership.rooms.add(room)  # first: an unsubscribe undoes whatever follows
        local = await self._attach(room, connection)
        history = await self._broker.history(room, since, limit)
        if await self._presence.join_room(room, member, connection.id):
            await self._member_events.joined(room, member.to_json())
        members = await self._presence.members(room)
        burst(history, members)
        if local is self.rooms.get(room):
            own_add = encode_text_frame(
                protocol.in_room(room, protocol.member_add(member.to_json()))
            )
            local.go_live(connection, history.last_id, own_add, self.metrics)
        self.metrics.joins += 1
        self.events.member_joined(room, member, connection.id)
        return history

    def _deliver_typing(self, local: LocalRoom, data: bytes, member_id: str) -> None:
        """To the room's other members only, and never to a backlogged socket."""
        members = self._members
        for connection in local.connections:
            membership = members.get(connection)
            others = membership is not None and membership.member_id != member_id
            if others and not connection.backlogged:
                connection.send_frame(data)

    async def history_page(self, room: str, before: str, limit: int) -> HistoryPage:
        """Up to ``limit`` messages older than ``before``, oldest first."""
        return await self._broker.history_before(room, before, limit)

    def rooms_of(self, connection: ClientConnection) -> set[str]:
        """The rooms the connection is in (joining or live)."""
        membership = self._members.get(connection)
        return membership.rooms if membership is not None else set()

    async def unsubscribe(self, room: str, connection: ClientConnection) -> None:
        """Out of one room: no more of its frames, and out of its presence on every relay."""
        membership = self._members.get(connection)
        if membership is None or room not in membership.rooms:
            return
        membership.rooms.discard(room)
        self._detach(room, connection)
        self.events.room_left(room, connection.id)
        await self._leave_presence(room, membership.member_id, connection)

    async def leave(self, connection: ClientConnection, close_code: int) -> None:
        """The connection closed: out of its rooms and their presence, no longer counted."""
        self.connections.discard(connection)
        self.metrics.closed(close_code)
        self.events.connection_left(connection.id, close_code)
        membership = self._members.pop(connection, None)
        if membership is None:
            return
        for room in membership.rooms:
            self._detach(room, connection)
        await asyncio.gather(
            *(
                self._leave_presence(room, membership.member_id, connection)
                for room in membership.rooms
            )
        )

    async def _leave_presence(
        self, room: str, member_id: str, connection: ClientConnection
    ) -> None:
        try:
            if await self._presence.leave_room(room, member_id, connection.id):
                await self._member_events.left(room, member_id)
        except BrokerUnavailable:
            # Presence expires on its own (PRESENCE_TTL) and a live process reaps it.
            log.warning(
                "could not remove presence of a closed connection; it will expire",
                extra={"conn": connection.id, "room": room},
            )

    def disconnect_member(self, member_id: str, reason: str) -> int:
        """Close every local connection of the member with 4003 (moderation); how many."""
        mine = [(c, m.rooms) for c, m in self._members.items() if m.member_id == member_id]
        for connection, rooms in mine:
            connection.close_soon(CLOSE_DISCONNECTED, reason)
            for room in rooms:
                self.events.emit(MEMBER_DISCONNECTED, room, member_id, connection=connection.id)
        return len(mine)

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
