"""One room as this process holds it: its live and joining connections, its delivery
position, and who typed lately; and a connection's membership of rooms."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from . import protocol
from .connection import ClientConnection
from .observability.metrics import RelayMetrics

# A frame held for a joining connection, with its message position (None: a member event).
Held = tuple[bytes, tuple[int, int] | None]


@dataclass(slots=True)
class Membership:
    """Who a connection is and the rooms it is in (its join's and its subscribes')."""

    member_id: str
    rooms: set[str] = field(default_factory=set)


@dataclass(slots=True)
class LocalRoom:
    subscribed: asyncio.Future[None]
    connections: set[ClientConnection] = field(default_factory=set)
    # Connections between subscribe and the end of their history; what arrives for
    # them meanwhile is held and later filtered against the history they were sent.
    joining: dict[ClientConnection, list[Held]] = field(default_factory=dict)
    last_delivered: tuple[int, int] = (0, 0)  # the room's delivery position, kept only here
    typing_at: dict[str, float] = field(default_factory=dict)  # member id -> last notice

    @property
    def empty(self) -> bool:
        return not self.connections and not self.joining

    def go_live(
        self,
        connection: ClientConnection,
        history_last: str | None,
        own_add: bytes,
        metrics: RelayMetrics,
    ) -> None:
        """Move a connection from joining to live, releasing what it has not seen yet.

        Messages already in the history it was sent are dropped, and so is the
        ``member_add`` announcing its own arrival (``own_add``, already in member_history).
        """
        pending = self.joining.pop(connection, [])
        seen = protocol.parse_message_id(history_last) if history_last else (0, 0)
        for frame, pair in pending:
            if pair is None:
                if frame != own_add:
                    connection.send_frame(frame)
                    metrics.presence_deliveries += 1
            elif pair > seen:
                connection.send_frame(frame)
                metrics.deliveries += 1
        self.connections.add(connection)
