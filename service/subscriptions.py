"""A connection's rooms beyond its join: ``subscribe``, ``unsubscribe``, ``history`` and
``typing`` (protocol v1 additions), for ``Session``.

A subscribe is a join into one more room: the same burst (``welcome``, ``member_history``,
``message_history``), as gap-free, from the hub's ``join``. Each room's frames carry the
room. A connection is in at most MAX_ROOMS_PER_CONNECTION rooms, its join's included.
"""

from __future__ import annotations

import logging

from . import protocol, room_frames
from .admission import Admission
from .broker import BrokerUnavailable, History
from .connection import ClientConnection
from .hub import Hub, JoinBurst
from .members import Member
from .room_frames import HistoryRequest, Subscribe, Typing, Unsubscribe

log = logging.getLogger("service.subscriptions")


def join_burst(connection: ClientConnection, room: str, member: Member, token: str) -> JoinBurst:
    """What a connection gets on joining ``room``: welcome, members, history."""

    def burst(history: History, members: dict[str, str]) -> None:
        connection.send_text(protocol.welcome(room, member.to_json(), token))
        connection.send_text(protocol.in_room(room, protocol.member_history(members)))
        frame = protocol.message_history(history.messages, history.complete)
        connection.send_text(protocol.in_room(room, frame))

    return burst


class Subscriptions:
    """The room frames of one joined connection."""

    __slots__ = (
        "admission",
        "connection",
        "history_size",
        "hub",
        "max_rooms",
        "member",
        "subject",
        "token",
    )

    def __init__(
        self,
        hub: Hub,
        connection: ClientConnection,
        member: Member,
        token: str,
        max_rooms: int,
        history_size: int,
        admission: Admission,
        subject: str | None,
    ) -> None:
        self.hub = hub
        self.connection = connection
        self.member = member
        self.token = token
        self.max_rooms = max_rooms
        self.history_size = history_size
        self.admission = admission
        self.subject = subject  # the signed-in identity, which a private room's token names

    def rooms(self) -> set[str]:
        return self.hub.rooms_of(self.connection)

    def check_in(self, room: str) -> bool:
        """True when the connection is in ``room``; else tells the client so."""
        if room in self.rooms():
            return True
        detail = f'not in room "{room}": send a "subscribe" for it first'
        self.connection.send_text(protocol.error("not_subscribed", detail, room))
        return False

    async def subscribe(self, frame: Subscribe) -> None:
        connection, room = self.connection, frame.room
        rooms = self.rooms()
        if room in rooms:
            detail = f'already in room "{room}"; "unsubscribe" first to subscribe again'
            connection.send_text(protocol.error("already_joined", detail, room))
            return
        if len(rooms) >= self.max_rooms:
            detail = (
                f"a connection may be in {self.max_rooms} rooms "
                '(MAX_ROOMS_PER_CONNECTION); "unsubscribe" from one first'
            )
            connection.send_text(protocol.error("too_many_rooms", detail, room))
            return
        forbidden = self.admission.forbidden(room, frame.room_token, self.subject)
        if forbidden is not None:
            connection.send_text(protocol.error("forbidden", forbidden, room))
            return
        burst = join_burst(connection, room, self.member, self.token)
        try:
            await self.hub.join(
                room, connection, self.member, frame.since, self.history_size, burst
            )
        except BrokerUnavailable as exc:
            log.warning(
                "subscribe failed, storage unreachable",
                extra={"conn": connection.id, "room": room, "error": str(exc)},
            )
            await self.hub.unsubscribe(room, connection)  # undo what was done
            detail = "not subscribed: chat storage unreachable; retry"
            connection.send_text(protocol.error("unavailable", detail, room))
            return
        log.debug("subscribed", extra={"conn": connection.id, "room": room})

    async def unsubscribe(self, frame: Unsubscribe) -> None:
        if self.check_in(frame.room):
            await self.hub.unsubscribe(frame.room, self.connection)

    async def history(self, frame: HistoryRequest) -> None:
        if not self.check_in(frame.room):
            return
        try:
            page = await self.hub.history_page(frame.room, frame.before, frame.limit)
        except BrokerUnavailable:
            detail = "history not read: chat storage unreachable; retry"
            self.connection.send_text(protocol.error("unavailable", detail, frame.room))
            return
        reply = room_frames.history_page(frame.room, frame.ref, page.messages, page.complete)
        self.connection.send_text(reply)

    async def typing(self, frame: Typing) -> None:
        if frame.room in self.rooms():  # a notice for a room it left is dropped silently
            await self.hub.writes.typing(frame.room, self.member)
