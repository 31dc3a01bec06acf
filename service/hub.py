"""The hub: this process's rooms and connections, and the fan-out to them.

The broker hands every event of a subscribed room to ``deliver`` once per process;
the hub asks ``protocol`` for its frame, encodes it once and writes the same bytes to
each local connection. It
subscribes to a room when its first local connection arrives and unsubscribes
after the last one leaves, so a process only hears rooms it serves.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from . import protocol
from .broker import Backend, BrokerEvent, HistoryGap, MemberJoined, Publication
from .connection import ClientConnection, WriteCoalescer
from .metrics import RelayMetrics
from .snapshot import RelaySnapshot
from .transport import encode_text_frame

log = logging.getLogger("service.hub")


@dataclass(slots=True)
class LocalRoom:
    subscribed: asyncio.Future[None]
    connections: set[ClientConnection] = field(default_factory=set)
    # Connections between subscribe and the end of their history; what arrives for
    # them meanwhile is held and later filtered against the history they were sent.
    joining: dict[ClientConnection, list[tuple[bytes, tuple[int, int] | None]]] = field(
        default_factory=dict
    )
    last_delivered: tuple[int, int] = (0, 0)

    @property
    def empty(self) -> bool:
        return not self.connections and not self.joining


class Hub:
    def __init__(self, backend: Backend, metrics: RelayMetrics | None = None) -> None:
        self.backend = backend
        self.broker = backend.broker
        self.presence = backend.presence
        self.identities = backend.identities
        self.metrics = metrics or RelayMetrics()
        self.rooms: dict[str, LocalRoom] = {}
        self.connections: set[ClientConnection] = set()
        self.coalescer = WriteCoalescer(self.metrics)
        self._subscription_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.broker.start(self)

    def snapshot(self) -> RelaySnapshot:
        return RelaySnapshot(
            connections=len(self.connections), rooms=len(self.rooms), broker=self.broker.stats()
        )

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self.backend.close()

    # fan-out (hot path: called synchronously by the broker for every frame)

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
        else:
            frame = protocol.member_delete(event.member_id)
        data = encode_text_frame(frame)  # once per process, whatever the audience
        connections = local.connections
        for connection in connections:
            connection.send_frame(data)
        for pending in local.joining.values():
            pending.append((data, pair))
        # Counted per frame, never per recipient (service.metrics).
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

    # membership of local rooms

    async def attach(self, room: str, connection: ClientConnection) -> LocalRoom:
        """Register a joining connection; subscribe first if the room is new here."""
        local = self.rooms.get(room)
        if local is None:
            local = LocalRoom(subscribed=asyncio.get_running_loop().create_future())
            self.rooms[room] = local
            try:
                async with self._subscription_lock:
                    await self.broker.subscribe(room)
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

    def activate(
        self, room: str, connection: ClientConnection, history_last: str | None, own_add: bytes
    ) -> None:
        """Move a connection from joining to live, releasing what it has not seen yet.

        Messages already in the history it was sent are dropped, and so is the
        ``member_add`` announcing its own arrival (``own_add``, already in member_history).
        """
        local = self.rooms[room]
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

    def detach(self, room: str, connection: ClientConnection) -> None:
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
                await self.broker.unsubscribe(room)
            except Exception:
                log.warning("unsubscribe from room %s failed", room, exc_info=True)

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._background.discard)
