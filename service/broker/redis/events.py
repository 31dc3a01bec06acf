"""The events the Lua scripts publish on a room's channel, and how a subscriber reads them.

Compact and frame-free (``service.protocol`` builds client frames, once per process):

- ``m<id> <body>``: a stored message, its stream id and ``protocol.message_body``;
- ``a<member json>``: a member joined (or rejoined under a new name);
- ``d<member id>``: a member left.

A payload starting with ``{`` is a protocol v1 frame as relays before issue 17
published it (a rolling deploy has old and new tasks on one Redis): it is read too.
Anything else, or anything that does not parse, raises ``MalformedEvent``: one bad
publish must not break a process (the original sample's JSON.parse crashed every server).
"""

from __future__ import annotations

from typing import Any

import orjson

from ...protocol import parse_message_id
from ..events import BrokerEvent, MemberJoined, MemberLeft, Publication


class MalformedEvent(ValueError):
    """A payload on a room's channel that is no event a relay publishes."""


MESSAGE = "m"
MEMBER_JOINED = "a"
MEMBER_LEFT = "d"


def publication(room: str, message_id: str, body: str) -> Publication:
    """A stored message as an event; raises MalformedEvent unless ``body`` is an object's
    members (nothing else may be spliced into a client frame)."""
    if not isinstance(orjson.loads(f"{{{body}}}"), dict):
        raise MalformedEvent("message body is not a JSON object's members")
    return Publication(room, message_id, parse_message_id(message_id), body)


def decode(room: str, payload: str) -> BrokerEvent:
    """The typed event a payload published on the room's channel stands for."""
    try:
        return _decode(room, payload)
    except MalformedEvent:
        raise
    except (ValueError, KeyError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise MalformedEvent(str(exc)) from exc


def _decode(room: str, payload: str) -> BrokerEvent:
    kind = payload[:1]
    if kind == MESSAGE:
        message_id, space, body = payload[1:].partition(" ")
        if not space:
            raise MalformedEvent("message event without a body")
        return publication(room, message_id, body)
    if kind == MEMBER_JOINED:
        member_json = payload[1:]
        return MemberJoined(room, _member_id(orjson.loads(member_json)), member_json)
    if kind == MEMBER_LEFT:
        if len(payload) < 2:
            raise MalformedEvent("member event without an id")
        return MemberLeft(room, payload[1:])
    if kind == "{":
        return _decode_legacy_frame(room, payload)
    raise MalformedEvent(f"unknown event kind {kind!r}")


def _member_id(member: Any) -> str:
    member_id = member.get("id") if isinstance(member, dict) else None
    if not isinstance(member_id, str) or not member_id:
        raise MalformedEvent("member without an id")
    return member_id


def _decode_legacy_frame(room: str, payload: str) -> BrokerEvent:
    """A whole client frame, as relays before issue 17 published (read during a deploy)."""
    frame = orjson.loads(payload)
    kind = frame["type"]
    if kind == "messages":
        message = frame["message"]
        if not isinstance(message, dict):
            raise MalformedEvent("legacy message is not an object")
        # {"id":…,"date":…,<body>}: re-encoding gives back the bytes it was built from.
        fields = orjson.dumps(message)[1:-1].decode()
        body = fields.partition(',"date":')[2].partition(",")[2]
        if not body:
            raise MalformedEvent("legacy message without a body")
        return publication(room, str(message["id"]), body)
    if kind == "member_add":
        member = frame["member"]
        return MemberJoined(room, _member_id(member), orjson.dumps(member).decode())
    if kind == "member_delete":
        return MemberLeft(room, str(frame["id"]))
    raise MalformedEvent(f"unknown legacy frame type {kind!r}")
