"""Wire protocol v1: parse and validate client frames, build server frames.

Server frames are built as text once and shared by every recipient, so the hot
paths (``messages`` fan-out, history) splice pre-encoded JSON instead of
re-encoding per client.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Any

import orjson

from contract.protocol import (
    ATTACHMENT_ID,
    DEFAULT_ROOM,
    MAX_ATTACHMENTS,
    MAX_TEXT_CHARS,
    MESSAGE_DELETED_FRAME,
    TOKEN,
    ErrorCode,
)

from . import room_frames
from .frame_fields import (
    MAX_ID_PART,
    ProtocolError,
    clean_display_name,
    is_blank,
    message_id_field,
    optional_str,
    parse_message_id,
    ref_field,
    room_field,
    room_token_field,
)
from .room_frames import HistoryRequest, Subscribe, Typing, Unsubscribe

# The limits, patterns and codes are contract.protocol's; this module reads and writes frames
# (the checks shared with room_frames are frame_fields').
MAX_MESSAGE_ID = (MAX_ID_PART, MAX_ID_PART)
__all__ = ["MAX_ID_PART", "ProtocolError", "clean_display_name", "is_blank", "parse_message_id"]


@dataclass(frozen=True, slots=True)
class Join:
    room: str = DEFAULT_ROOM
    token: str | None = None
    since: str | None = None
    name: str | None = None  # a display name the person chose (anonymous mode)
    room_token: str | None = None  # a private room's JWT (service.room_tokens)


@dataclass(frozen=True, slots=True)
class Send:
    text: str
    ref: str | None = None
    room: str | None = None  # None: the room of the join
    attachments: tuple[str, ...] = ()  # uploaded attachment ids (service.attachments)


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class AttachmentRequest:
    """An ``upload`` or ``download`` frame; service.attachments reads its fields."""

    kind: str
    fields: dict[str, Any]


ClientFrame = (
    Join | Send | Ping | Subscribe | Unsubscribe | HistoryRequest | Typing | AttachmentRequest
)


def format_message_id(pair: tuple[int, int]) -> str:
    """The ``<ms>-<seq>`` text of a position (the inverse of ``parse_message_id``)."""
    return f"{pair[0]}-{pair[1]}"


def parse_client_frame(text: str) -> ClientFrame:
    """Parse one text frame; raise ProtocolError with a code a client can act on."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad_frame", "frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_frame", 'frame must be a JSON object with a "type"')
    kind = obj.get("type")
    if kind == "send":
        return _parse_send(obj)
    if kind == "ping":
        return Ping()
    if kind == "join":
        return _parse_join(obj)
    if kind in ("upload", "download"):
        return AttachmentRequest(kind, obj)
    return room_frames.parse(kind, obj)


def _parse_join(obj: dict[str, Any]) -> Join:
    room = room_field(obj, DEFAULT_ROOM)
    assert room is not None
    token = optional_str(obj, "token")
    if token is not None and not TOKEN.fullmatch(token):
        raise ProtocolError("bad_frame", '"token" must be the token a welcome frame gave')
    since = message_id_field(obj, "since")
    name = optional_str(obj, "name")
    if name is not None:
        name = clean_display_name(name)
    room_token = room_token_field(obj)
    return Join(room=room, token=token, since=since, name=name, room_token=room_token)


def _parse_send(obj: dict[str, Any]) -> Send:
    text = obj.get("text")
    if not isinstance(text, str):
        raise ProtocolError("bad_frame", '"text" must be a string')
    text = text.strip()
    attachments = _attachment_ids(obj.get("attachments"))
    if is_blank(text) and not attachments:
        raise ProtocolError("empty_text", "message text is empty (or only invisible characters)")
    if len(text) > MAX_TEXT_CHARS:
        raise ProtocolError("too_long", f"message text is over {MAX_TEXT_CHARS} characters")
    return Send(text=text, ref=ref_field(obj), room=room_field(obj, None), attachments=attachments)


def _attachment_ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) > MAX_ATTACHMENTS
        or not all(isinstance(v, str) and ATTACHMENT_ID.fullmatch(v) for v in value)
    ):
        raise ProtocolError(
            "bad_attachment",
            f'"attachments" must be a list of at most {MAX_ATTACHMENTS} ids '
            'from "upload_slot" frames',
        )
    return tuple(dict.fromkeys(value))


# --- server frames ----------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


@functools.lru_cache(maxsize=1 << 12)
def _room_json(room: str) -> str:
    return _dumps(room)


def in_room(room: str, frame: str) -> str:
    """``frame`` with ``"room":<room>`` after its type: how every frame about one room
    names it (an extra field, so a client of one room reads it as before). Server frames
    start with their type, whose value holds no comma."""
    cut = frame.index(",", 9)
    return f'{frame[:cut]},"room":{_room_json(room)}{frame[cut:]}'


def welcome(room: str, member_json: str, token: str) -> str:
    return (
        f'{{"type":"welcome","room":{_dumps(room)},"member":{member_json},"token":{_dumps(token)}}}'
    )


def member_history(members: dict[str, str]) -> str:
    """``members`` maps member id to the member's pre-encoded JSON."""
    body = ",".join(itertools.starmap(_member_entry, members.items()))
    return f'{{"type":"member_history","members":{{{body}}}}}'


@functools.lru_cache(maxsize=1 << 14)
def _member_entry(member_id: str, member_json: str) -> str:
    # Cached: a room filling up sends every member's entry to each joiner (n^2 in all);
    # 16k entries of ~300 bytes bound it to ~5 MB.
    return f"{_dumps(member_id)}:{member_json}"


def message_page(messages: list[str], complete: bool) -> str:
    """``{"messages":[...],"complete":…}``: the server API's history page."""
    flag = "true" if complete else "false"
    return f'{{"messages":[{",".join(messages)}],"complete":{flag}}}'


def members_object(members: dict[str, str]) -> str:
    """``{"members":{...}}``: the server API's answer, from pre-encoded member objects."""
    body = ",".join(itertools.starmap(_member_entry, members.items()))
    return f'{{"members":{{{body}}}}}'


def message_history(messages: list[str], complete: bool) -> str:
    """``messages`` are pre-encoded message objects, oldest first."""
    flag = "true" if complete else "false"
    return f'{{"type":"message_history","messages":[{",".join(messages)}],"complete":{flag}}}'


def messages(message_json: str) -> str:
    return f'{{"type":"messages","message":{message_json}}}'


def message_frame(message_id: str, body: str) -> str:
    """The ``messages`` frame of a stored message: ``messages(message_json(id, body))``
    in one step (the fan-out builds it once per process per message)."""
    millis = message_id.partition("-")[0]
    return f'{{"type":"messages","message":{{"id":"{message_id}","date":{millis},{body}}}}}'


def message_deleted(message_id: str) -> str:
    return _dumps({"type": MESSAGE_DELETED_FRAME, "id": message_id})


def member_add(member_json: str) -> str:
    return f'{{"type":"member_add","member":{member_json}}}'


def member_delete(member_id: str) -> str:
    return f'{{"type":"member_delete","id":{_dumps(member_id)}}}'


def ack(ref: str | None, message_id: str) -> str:
    return _dumps({"type": "ack", "ref": ref, "id": message_id})


def error(code: ErrorCode, detail: str, room: str | None = None) -> str:
    """``room``: the room the refused frame named, when it named one."""
    if room is None:
        return _dumps({"type": "error", "code": code, "detail": detail})
    return _dumps({"type": "error", "code": code, "detail": detail, "room": room})


PONG = '{"type":"pong"}'


def resync(after: str) -> str:
    """Messages after ``after`` may be missing and cannot be replayed (a gap is signalled)."""
    return _dumps({"type": "resync", "after": after})


def message_body(
    member_id: str,
    username: str,
    avatar: str,
    text: str,
    attachments: list[dict[str, Any]] | None = None,
) -> str:
    """The message fields after ``id`` and ``date``, as a JSON fragment (no braces).

    Stored once; a full message is ``{"id":…,"date":…,`` + body + ``}``. ``attachments``
    (their metadata, service.attachments) appear only on a message that has some.
    """
    fields: dict[str, Any] = {
        "member": member_id,
        "username": username,
        "avatar": avatar,
        "text": text,
    }
    if attachments:
        fields["attachments"] = attachments
    encoded = orjson.dumps(fields)
    return encoded[1:-1].decode()


def message_json(message_id: str, body: str) -> str:
    millis = message_id.partition("-")[0]
    return f'{{"id":"{message_id}","date":{millis},{body}}}'


# Attachments' frames (service.attachments): rare, so built from dicts.


def upload_slot(ref: str | None, upload: dict[str, Any], attachment_id: str) -> str:
    return _dumps(
        {"type": "upload_slot", "ref": ref, "upload": upload, "attachment": attachment_id}
    )


def download_link(ref: str | None, attachment_id: str, url: str, expires: int) -> str:
    frame = {"type": "download_link", "ref": ref, "attachment": attachment_id}
    return _dumps({**frame, "url": url, "expires": expires})


def attachment_updated(metadata: dict[str, Any]) -> str:
    """To a room, without history: an attachment's status changed (a scan verdict)."""
    return _dumps({"type": "attachment_updated", "attachment": metadata})
