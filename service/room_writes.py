"""What is written to a room: messages (a member's or the server API's), deletions and
typing notices, each one ``Broker.publish`` with its options.

The body is built here, once (``protocol.message_body``); the broker stores and fans it
out as it is. Reads and the fan-out are the hub's.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from contract.events import MESSAGE_DELETED, message_event_id
from contract.protocol import TYPING_INTERVAL, ErrorCode

from . import protocol, room_frames
from .broker import Broker, BrokerUnavailable, HistoryFull, PublishOptions
from .events_out import ChatEvents
from .local_room import LocalRoom
from .members import Member
from .observability.metrics import RelayMetrics


def member_key(member_id: str, ref: str | None) -> str | None:
    """A member's ``send`` with a ``ref`` is idempotent: a retry answers the first id."""
    return None if ref is None else f"{member_id}:{ref}"  # the key earlier releases used


def api_key(idempotency_key: str | None) -> str | None:
    """A server post's key holds for the room whatever the username (a retried POST may
    not know who it posted as)."""
    return None if idempotency_key is None else f"api:{idempotency_key}"


def refusal(error: BrokerUnavailable | HistoryFull) -> tuple[ErrorCode, str]:
    """The ``error`` frame's code and detail for a message the broker did not store."""
    if isinstance(error, HistoryFull):
        return "history_full", (
            "message not stored: this relay holds all the chat history it may "
            "(MEMORY_HISTORY_BYTES) and new rooms wait until idle rooms expire; "
            "rooms with history keep working"
        )
    return "unavailable", "message not stored: storage unreachable; retry"


class RoomWrites:
    def __init__(
        self,
        broker: Broker,
        metrics: RelayMetrics,
        events: ChatEvents,
        rooms: dict[str, LocalRoom],
    ) -> None:
        self._broker = broker
        self._metrics = metrics
        self._events = events
        self._rooms = rooms  # the hub's local rooms: typing is limited per local room

    async def publish(
        self,
        room: str,
        member: Member,
        text: str,
        key: str | None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> str:
        """Store and fan out one message and answer its id; a repeated ``key``
        (``member_key``, ``api_key``) answers the first id. Raises BrokerUnavailable or
        HistoryFull."""
        body = protocol.message_body(member.id, member.username, member.avatar, text, attachments)
        published = await self._broker.publish(room, body, PublishOptions(idempotency_key=key))
        assert published.message_id is not None  # a publish with history has an id
        if not published.duplicate:
            self._metrics.messages_in += 1
            self._events.message_posted(room, member, published.message_id, text)
        return published.message_id

    async def delete_message(self, room: str, message_id: str) -> bool:
        """Tombstone a stored message and tell the room (``message_deleted``); False when
        the room's history does not hold it (never stored, trimmed, or already deleted)."""
        millis, seq = protocol.parse_message_id(message_id)
        after = (millis, seq + 1) if seq < protocol.MAX_ID_PART else (millis + 1, 0)
        page = await self._broker.history_before(room, protocol.format_message_id(after), 1)
        if not page.messages or not page.messages[-1].startswith(f'{{"id":"{message_id}",'):
            return False
        frame = protocol.message_deleted(message_id)
        await self._broker.publish(room, frame, PublishOptions(history=False, tombstone=message_id))
        event_id = message_event_id(MESSAGE_DELETED, room, message_id)
        message = {"id": message_id}
        self._events.emit(MESSAGE_DELETED, room, None, event_id=event_id, message=message)
        return True

    async def typing(self, room: str, member: Member) -> None:
        """Pass on that ``member`` types in ``room``: at most once per TYPING_INTERVAL per
        member on this relay (more are dropped), never stored, dropped when storage is down."""
        local = self._rooms.get(room)
        if local is None:
            return
        now = time.monotonic()
        if now - local.typing_at.get(member.id, -TYPING_INTERVAL) < TYPING_INTERVAL:
            return
        local.typing_at[member.id] = now
        with contextlib.suppress(BrokerUnavailable):
            notice = room_frames.typing_notice(member.id)
            await self._broker.publish(room, notice, PublishOptions(history=False))
