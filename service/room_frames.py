"""The frames of many rooms on one connection (protocol v1 additions): ``subscribe``,
``unsubscribe``, ``history`` and ``typing`` from clients, ``history_page`` and ``typing``
to them. ``protocol.parse_client_frame`` hands these types here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from contract.protocol import CLIENT_FRAME_TYPES, DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE

from .frame_fields import (
    ProtocolError,
    message_id_field,
    ref_field,
    required_room,
    room_token_field,
)


@dataclass(frozen=True, slots=True)
class Subscribe:
    room: str
    since: str | None = None
    room_token: str | None = None  # a private room's token (checked by the room's access)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    room: str


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    room: str
    before: str
    limit: int = DEFAULT_HISTORY_PAGE
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Typing:
    room: str


RoomFrame = Subscribe | Unsubscribe | HistoryRequest | Typing


def parse(kind: object, obj: dict[str, Any]) -> RoomFrame:
    """A room frame of type ``kind``; raises ProtocolError (``bad_frame`` for an unknown type)."""
    if kind == "typing":
        return Typing(required_room(obj))
    if kind == "subscribe":
        return Subscribe(required_room(obj), message_id_field(obj, "since"), room_token_field(obj))
    if kind == "unsubscribe":
        return Unsubscribe(required_room(obj))
    if kind == "history":
        return _parse_history(obj)
    expected = ", ".join(CLIENT_FRAME_TYPES)
    raise ProtocolError("bad_frame", f'unknown "type"; expected one of {expected}')


def _parse_history(obj: dict[str, Any]) -> HistoryRequest:
    room = required_room(obj)
    before = message_id_field(obj, "before")
    if before is None:
        raise ProtocolError(
            "bad_frame", '"before" is required: the id of the oldest message the client has'
        )
    limit = obj.get("limit", DEFAULT_HISTORY_PAGE)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_PAGE:
        raise ProtocolError("bad_frame", f'"limit" must be a whole number 1..{MAX_HISTORY_PAGE}')
    return HistoryRequest(room, before, limit, ref_field(obj))


# --- server frames ----------------------------------------------------------------


def history_page(room: str, ref: str | None, messages: list[str], complete: bool) -> str:
    """``messages`` are pre-encoded message objects, oldest first."""
    head = orjson.dumps({"type": "history_page", "room": room, "ref": ref}).decode()[:-1]
    flag = "true" if complete else "false"
    return f'{head},"messages":[{",".join(messages)}],"complete":{flag}}}'


TYPING_PREFIX = '{"type":"typing","member":'


def typing_notice(member_id: str) -> str:
    """What a relay publishes (without history) for a typist; every relay adds the room
    as it delivers (``protocol.in_room``)."""
    return f"{TYPING_PREFIX}{orjson.dumps(member_id).decode()}}}"


def typist(frame: str) -> str | None:
    """The member of a typing notice, or None for another frame."""
    if not frame.startswith(TYPING_PREFIX):
        return None
    member = orjson.loads(frame).get("member")
    return member if isinstance(member, str) else None
