"""The chat's events as EventBridge entries: what the hub (and the server API) call.

Each event is emitted by the relay where it happens: the relay that stored a message
emits ``message.posted``, the relay holding a connection emits its ``member.joined`` and
``member.left``. So each arrives once, not once per relay. ``emit`` only builds the
entry and queues it in the outbox; with no bus configured every call returns at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from contract import events as schema
from contract.events import DetailType
from contract.protocol import CLOSE_ABNORMAL

from ..members import Member
from .outbox import Outbox

# A member as an event carries it: the member object, or {"id": ...} when only that is known.
MemberLike = Member | Mapping[str, Any] | str | None


def iso_time(millis: float | None = None) -> str:
    """RFC 3339 UTC with milliseconds (EventBridge's and the detail's ``time``)."""
    moment = datetime.now(UTC) if millis is None else datetime.fromtimestamp(millis / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _member_object(member: MemberLike) -> dict[str, Any] | None:
    if member is None:
        return None
    if isinstance(member, Member):
        return {"id": member.id, "username": member.username, "avatar": member.avatar}
    if isinstance(member, str):
        return {"id": member}
    return dict(member)


class ChatEvents:
    """``emit`` for any event; ``message_posted``, ``member_joined``, ``room_left``,
    ``connection_left`` and ``connection_lost`` for the hub. Without an outbox
    (EVENT_BUS_NAME unset) nothing is built or kept."""

    def __init__(self, outbox: Outbox | None = None, bus: str = "") -> None:
        self.outbox = outbox
        self.bus = bus
        # Joined connections: connection id -> room -> member, so that each room a
        # connection joined (or subscribed) hears its member.left, naming the member the
        # join did. Kept only while events are on.
        self._joined: dict[str, dict[str, dict[str, Any] | None]] = {}

    @property
    def enabled(self) -> bool:
        return self.outbox is not None

    def emit(
        self,
        detail_type: DetailType,
        room: str | None,
        member: MemberLike = None,
        *,
        event_id: str | None = None,
        millis: float | None = None,
        **fields: Any,
    ) -> None:
        """Queue one event; never blocks, never raises. ``event_id``: a stable id (default:
        a new one); ``millis``: when it happened (default: now); ``fields``: the type's own
        (``message=...``, ``connection=...``; contract.events.DETAIL_FIELDS)."""
        if self.outbox is None:
            return
        time = iso_time(millis)
        detail = schema.detail(
            detail_type,
            event_id=event_id or schema.new_event_id(),
            time=time,
            room=room,
            member=_member_object(member),
            **fields,
        )
        self.outbox.add(
            {
                "Source": schema.SOURCE,
                "DetailType": detail_type,
                "Detail": orjson.dumps(detail).decode(),
                "EventBusName": self.bus,
                "Time": datetime.fromisoformat(time),
            }
        )

    # the hub's hooks

    def message_posted(self, room: str, member: Member, message_id: str, text: str) -> None:
        if self.outbox is None:
            return
        millis = int(message_id.partition("-")[0])  # the store's clock, as clients see it
        message = {
            "id": message_id,
            "date": millis,
            "member": member.id,
            "username": member.username,
            "avatar": member.avatar,
            "text": text,
        }
        event_id = schema.message_event_id(schema.MESSAGE_POSTED, room, message_id)
        self.emit(
            schema.MESSAGE_POSTED, room, member, event_id=event_id, millis=millis, message=message
        )

    def member_joined(self, room: str, member: Member, connection_id: str) -> None:
        if self.outbox is None:
            return
        member_object = _member_object(member)
        self._joined.setdefault(connection_id, {})[room] = member_object
        self.emit(schema.MEMBER_JOINED, room, member_object, connection=connection_id)

    def room_left(self, room: str, connection_id: str) -> None:
        """A connection left one room and stays open (``unsubscribe``): its member.left
        there, with no close code."""
        rooms = self._joined.get(connection_id)
        if rooms is None or room not in rooms:
            return
        member_object = rooms.pop(room)
        if not rooms:
            del self._joined[connection_id]
        self._member_left(room, member_object, connection_id, None)

    def connection_left(self, connection_id: str, close_code: int) -> None:
        """A connection closed; member.left in every room it had joined (else nothing)."""
        for room, member_object in self._joined.pop(connection_id, {}).items():
            self._member_left(room, member_object, connection_id, close_code)

    def connection_lost(
        self, room: str, member_id: str, connection_id: str, member_json: str | None
    ) -> None:
        """A connection of a relay that stopped without closing it (a crash), reaped here
        from the room's presence: its member.left, close code 1006 as for a lost network.
        One relay reaps each connection (presence_refresh.lua), and the id is derived from
        the room and the connection, so a consumer deduplicates as for any event."""
        if self.outbox is None:
            return
        member = Member.from_json(member_json) if member_json else member_id
        event_id = schema.lost_connection_event_id(room, connection_id)
        self._member_left(room, member, connection_id, CLOSE_ABNORMAL, event_id)

    def _member_left(
        self,
        room: str,
        member: MemberLike,
        connection_id: str,
        close_code: int | None,
        event_id: str | None = None,
    ) -> None:
        self.emit(
            schema.MEMBER_LEFT,
            room,
            member,
            event_id=event_id,
            connection=connection_id,
            close_code=close_code,
        )

    # lifecycle (the relay's lifespan)

    def start(self) -> None:
        if self.outbox is not None:
            self.outbox.start()

    async def close(self, timeout: float) -> None:
        if self.outbox is not None:
            await self.outbox.close(timeout)
