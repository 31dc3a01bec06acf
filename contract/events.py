"""Events out: what the relay sends to EventBridge (EVENT_BUS_NAME), defined once.

Each event is one PutEvents entry: ``Source`` is ``SOURCE``, ``DetailType`` one of
``DETAIL_TYPES`` and ``Detail`` a JSON object with ``DETAIL_FIELDS`` (docs/events.md shows
them). The relay where the action happens emits it, so under normal operation each event
arrives once; a retried PutEvents may deliver it twice (failover, a lost answer), so
``detail.id`` is stable across retries and consumers deduplicate on it.
"""

from __future__ import annotations

import uuid
from typing import Any, Final, Literal, get_args

SOURCE: Final = "chat-relay"
SCHEMA_VERSION: Final = 1

DetailType = Literal[
    "message.posted",
    "message.deleted",
    "member.joined",
    "member.left",
    "member.disconnected",
]
DETAIL_TYPES: Final[tuple[DetailType, ...]] = get_args(DetailType)
MESSAGE_POSTED: Final[DetailType] = "message.posted"
MESSAGE_DELETED: Final[DetailType] = "message.deleted"
MEMBER_JOINED: Final[DetailType] = "member.joined"
MEMBER_LEFT: Final[DetailType] = "member.left"
MEMBER_DISCONNECTED: Final[DetailType] = "member.disconnected"

# Every event's detail carries these; "message" only the message events (for a deletion,
# just its id), "connection" the member events (one member may hold several connections).
COMMON_FIELDS: Final = ("version", "id", "type", "time", "room", "member")
DETAIL_FIELDS: Final[dict[DetailType, tuple[str, ...]]] = {
    "message.posted": (*COMMON_FIELDS, "message"),
    "message.deleted": (*COMMON_FIELDS, "message"),
    "member.joined": (*COMMON_FIELDS, "connection"),
    "member.left": (*COMMON_FIELDS, "connection", "close_code"),
    "member.disconnected": (*COMMON_FIELDS, "connection"),
}

# PutEvents limits (EventBridge quotas): entries per call, bytes per entry.
MAX_ENTRIES_PER_PUT: Final = 10
MAX_ENTRY_BYTES: Final = 256 * 1024

# Namespace of the ids derived from what the event is about (uuid5): the same message's
# event has the same id whichever relay, or retry, sends it.
_ID_NAMESPACE: Final = uuid.UUID("6f1d3c1e-3b0a-4f7e-9a58-0c7b4e0e2a11")


def message_event_id(detail_type: DetailType, room: str, message_id: str) -> str:
    """The stable id of a message event: derived from the room and the message id."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{detail_type}\n{room}\n{message_id}"))


def lost_connection_event_id(room: str, connection_id: str) -> str:
    """The stable id of the member.left a relay emits for a connection it reaped (its own
    relay stopped without closing it): derived from the room and the connection."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{MEMBER_LEFT}\n{room}\n{connection_id}"))


def new_event_id() -> str:
    """A fresh unique id, for an event that happens once (a connection's join or leave)."""
    return str(uuid.uuid4())


def detail(
    detail_type: DetailType,
    *,
    event_id: str,
    time: str,
    room: str | None,
    member: dict[str, Any] | None,
    **fields: Any,
) -> dict[str, Any]:
    """An event's detail object; ``fields`` are the type's own (``message``, ...)."""
    return {
        "version": SCHEMA_VERSION,
        "id": event_id,
        "type": detail_type,
        "time": time,
        "room": room,
        "member": member,
        **fields,
    }
