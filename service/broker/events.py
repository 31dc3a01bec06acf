"""What a broker delivers to the hub: typed events, not client frames.

A broker hands each event of a subscribed room to the hub once per process; the hub
asks ``service.protocol`` for the client frame (built once, whatever the audience).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import orjson

# Events are plain slotted dataclasses, not frozen ones: a frozen dataclass's __init__
# costs three times as much, once per message per process. Nothing mutates them.


@dataclass(slots=True)
class Publication:
    """A stored message: its id, the id as an ordered pair, and its JSON body (the
    members after ``id`` and ``date``, see ``protocol.message_body``)."""

    room: str
    message_id: str
    position: tuple[int, int]
    body: str


@dataclass(slots=True)
class MemberJoined:
    """A member's first connection in the room, or a new one under a new name."""

    room: str
    member_id: str
    member_json: str


@dataclass(slots=True)
class MemberLeft:
    """A member's last connection in the room is gone."""

    room: str
    member_id: str


@dataclass(slots=True)
class HistoryGap:
    """Messages after ``after`` may be missing and cannot be replayed (a resubscribe
    found history trimmed past what this process last delivered)."""

    room: str
    after: str


@dataclass(slots=True)
class Notice:
    """A client frame published without history (a typing notice): delivered as it is."""

    room: str
    frame: str


BrokerEvent = Publication | MemberJoined | MemberLeft | HistoryGap | Notice


class MalformedEvent(ValueError):
    """A payload that is no event a relay publishes."""


# Frames a relay only builds itself: for one connection (its join burst, acks, errors,
# pongs), from a stored message with its id (``messages``) or from a gap it found.
OWN_FRAMES = frozenset(
    ["welcome", "member_history", "message_history", "messages", "ack", "error", "pong", "resync"]
)


def notice(room: str, frame: str) -> MemberJoined | MemberLeft | Notice:
    """The event a client frame published without history stands for: member events are
    typed (presence keeps rosters from them), any other frame is a ``Notice``. Raises
    MalformedEvent unless ``frame`` is a JSON object with a string ``type``."""
    try:
        parsed = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(str(exc)) from exc
    kind = parsed.get("type") if isinstance(parsed, dict) else None
    if kind == "member_add":
        member = parsed.get("member")
        # interned: the same member's JSON arrives once per room it is in; one copy is kept
        return MemberJoined(room, member_id(member), sys.intern(orjson.dumps(member).decode()))
    if kind == "member_delete":
        left = parsed.get("id")
        if not isinstance(left, str) or not left:
            raise MalformedEvent("member_delete without an id")
        return MemberLeft(room, left)
    if not isinstance(kind, str) or kind in OWN_FRAMES:
        raise MalformedEvent(f"not a frame to publish without history: type {kind!r}")
    return Notice(room, frame)


def member_id(member: Any) -> str:
    """The id of a member object; raises MalformedEvent when there is none."""
    found = member.get("id") if isinstance(member, dict) else None
    if not isinstance(found, str) or not found:
        raise MalformedEvent("member without an id")
    return found
