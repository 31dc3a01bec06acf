"""What a broker delivers to the hub: typed events, not client frames.

A broker hands each event of a subscribed room to the hub once per process; the hub
asks ``service.protocol`` for the client frame (built once, whatever the audience).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


BrokerEvent = Publication | MemberJoined | MemberLeft | HistoryGap
EventHandler = Callable[[BrokerEvent], None]
