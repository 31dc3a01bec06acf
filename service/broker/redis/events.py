"""The events published on a room's channel, and how a subscriber reads them.

Compact and frame-free (``service.protocol`` builds client frames, once per process):

- ``m<id> <body>``: a stored message, its stream id and ``protocol.message_body``;
- ``a<member json>``: a member joined (or rejoined under a new name), and
- ``d<member id>``: a member left: both only from relays of the previous release (member
  events are now frames published without history, ``member_events.py``).

A payload starting with ``{`` is a protocol v1 client frame: what relays before issue 17
published, and what this release publishes with REDIS_PUBLISH_FORMAT=frame (the default,
so relays of the previous release on the same Redis keep working during a rolling deploy).
Every relay reads both. A publish without history (a member event, a typing notice) is a
client frame in either format (``events.notice`` reads it). A message frame exactly as
publish.lua builds it is read by string tests (``_message_frame``, as cheap as the compact
event); any other frame by a JSON parse.
Anything else, or anything that does not parse, raises one of ``DECODE_ERRORS``
(``MalformedEvent`` among them), which the fan-out catches: one bad publish must not break
a process (the original sample's JSON.parse crashed every server).
"""

from __future__ import annotations

import re

import orjson

from ...protocol import parse_message_id
from ..events import (
    BrokerEvent,
    MalformedEvent,
    MemberJoined,
    MemberLeft,
    Publication,
    member_id,
    notice,
)

__all__ = ["DECODE_ERRORS", "MalformedEvent", "decode", "publication"]

MESSAGE = "m"
MEMBER_JOINED = "a"
MEMBER_LEFT = "d"


def publication(room: str, message_id: str, body: str) -> Publication:
    """A stored message as an event; raises MalformedEvent unless ``body`` is an object's
    members (nothing else may be spliced into a client frame)."""
    # An empty body would splice a trailing comma into the client frame.
    if not body or not isinstance(orjson.loads(f"{{{body}}}"), dict):
        raise MalformedEvent("message body is not a JSON object's members")
    return Publication(room, message_id, parse_message_id(message_id), body)


# What ``decode`` raises for a payload no relay published (MalformedEvent and
# orjson.JSONDecodeError are ValueErrors): the caller catches these, one call fewer on
# the path of every message than wrapping them here.
DECODE_ERRORS = (ValueError, KeyError, TypeError)


def decode(room: str, payload: str) -> BrokerEvent:
    """The typed event a payload published on the room's channel stands for; raises one
    of ``DECODE_ERRORS`` for anything else."""
    kind = payload[:1]
    if kind == MESSAGE:
        message_id, space, body = payload[1:].partition(" ")
        if not space:
            raise MalformedEvent("message event without a body")
        return publication(room, message_id, body)
    if kind == MEMBER_JOINED:
        member_json = payload[1:]
        return MemberJoined(room, member_id(orjson.loads(member_json)), member_json)
    if kind == MEMBER_LEFT:
        if len(payload) < 2:
            raise MalformedEvent("member event without an id")
        return MemberLeft(room, payload[1:])
    if kind == "{":
        return _message_frame(room, payload) or _decode_legacy_frame(room, payload)
    raise MalformedEvent(f"unknown event kind {kind!r}")


# A message frame exactly as publish.lua builds it (protocol.message_frame builds the same
# bytes): the id, its millis again as the date, then the body. One regex match costs less
# here than the half-dozen str calls it takes to check the same by hand.
_MESSAGE_FRAME = re.compile(
    r'\{"type":"messages","message":\{"id":"((\d+)-\d+)","date":\2,(.+)\}\}', re.S | re.A
).fullmatch


def _message_frame(room: str, payload: str) -> Publication | None:
    """The publication in a message frame exactly as publish.lua builds it, without
    parsing the frame as JSON (this runs for every message while ``frame`` is published);
    None for any other payload, which the JSON parse then reads or refuses."""
    match = _MESSAGE_FRAME(payload)
    if match is None:
        return None
    message_id, body = match.group(1, 3)
    try:
        # The body is validated as on the compact path (and the id parsed).
        return publication(room, message_id, body)
    except ValueError:  # MalformedEvent, orjson.JSONDecodeError, a bad id
        return None


def _decode_legacy_frame(room: str, payload: str) -> BrokerEvent:
    """A whole client frame, parsed as JSON: any frame ``_message_frame`` does not read."""
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
    # Member events and notices: frames published without history (``notice``).
    return notice(room, payload)
