"""Wire protocol v1: parse and validate client frames, build server frames.

Server frames are built as text once and shared by every recipient, so the hot
paths (``messages`` fan-out, history) splice pre-encoded JSON instead of
re-encoding per client.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import orjson

from contract.protocol import (
    ATTACHMENT_ID,
    DEFAULT_ROOM,
    MAX_ATTACHMENTS,
    MAX_NAME_CHARS,
    MAX_REF_CHARS,
    MAX_TEXT_CHARS,
    ROOM_NAME,
    TOKEN,
    ErrorCode,
)

# The limits, patterns and codes are contract.protocol's; this module reads and writes frames.
# Message ids are exactly what Redis accepts as a stream id: two parts of 1-20 ASCII digits
# (not Arabic-Indic or fullwidth ones), each an unsigned 64-bit integer (parse_message_id).
MAX_ID_DIGITS = 20
MAX_ID_PART = 2**64 - 1
MAX_MESSAGE_ID = (MAX_ID_PART, MAX_ID_PART)


class ProtocolError(Exception):
    """Bad input from a client; becomes an ``error`` frame, the connection stays open."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Join:
    room: str = DEFAULT_ROOM
    token: str | None = None
    since: str | None = None
    name: str | None = None  # a display name the person chose (anonymous mode)


@dataclass(frozen=True, slots=True)
class Send:
    text: str
    ref: str | None = None
    attachments: tuple[str, ...] = ()  # uploaded attachment ids (service.attachments)


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class AttachmentRequest:
    """An ``upload`` or ``download`` frame; service.attachments reads its fields."""

    kind: str
    fields: dict[str, Any]


ClientFrame = Join | Send | Ping | AttachmentRequest


def parse_message_id(value: str) -> tuple[int, int]:
    """Message ids are ``<ms>-<seq>`` (Redis stream ids); they order as integer pairs."""
    # String tests, not a regex: this runs once per message per process on the fan-out.
    # isdigit() on ASCII text is exactly 0-9 (int() alone takes "+1", " 1", Arabic-Indic).
    millis, dash, seq = value.partition("-")
    if not (
        dash
        and value.isascii()
        and millis.isdigit()
        and seq.isdigit()
        and len(millis) <= MAX_ID_DIGITS
        and len(seq) <= MAX_ID_DIGITS
    ):
        raise ValueError(f"not a message id: {value!r}")
    pair = int(millis), int(seq)
    if max(pair) > MAX_ID_PART:
        raise ValueError(f"message id part over 2^64-1: {value!r}")
    return pair


def format_message_id(pair: tuple[int, int]) -> str:
    """The ``<ms>-<seq>`` text of a position (the inverse of ``parse_message_id``)."""
    return f"{pair[0]}-{pair[1]}"


# White_Space is what str.strip() removes; these are Unicode's Default_Ignorable_Code_Point
# ranges (DerivedCoreProperties.txt): zero-width spaces and joiners, the BOM, bidi and
# variation marks, Hangul fillers, tags. A text made only of them renders as nothing.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff\\s]*"
)


def is_blank(text: str) -> bool:
    """True when ``text`` holds nothing visible: only whitespace and ignorable code points."""
    return _INVISIBLE.fullmatch(text) is not None


def clean_display_name(raw: str) -> str:
    """A display name as shown to others: trimmed, visible, short, one line.

    Raises ProtocolError ``bad_name`` naming what is wrong. Control characters (a newline,
    an escape) and line separators could break a members list or a log line; invisible
    characters inside visible text are kept, as in messages (emoji sequences need them).
    """
    name = raw.strip()
    if is_blank(name):
        raise ProtocolError("bad_name", "name is empty (or only invisible characters)")
    if len(name) > MAX_NAME_CHARS:
        raise ProtocolError("bad_name", f"name is over {MAX_NAME_CHARS} characters")
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
        raise ProtocolError("bad_name", "name holds a control character or line break")
    return name


def _optional_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError("bad_frame", f'"{key}" must be a string')
    return value


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
    raise ProtocolError(
        "bad_frame", 'unknown "type"; expected join, send, ping, upload or download'
    )


def _parse_join(obj: dict[str, Any]) -> Join:
    room = _optional_str(obj, "room")
    if room is None:
        room = DEFAULT_ROOM
    elif not ROOM_NAME.fullmatch(room):
        raise ProtocolError(
            "bad_room",
            "room must be 1-64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
        )
    token = _optional_str(obj, "token")
    if token is not None and not TOKEN.fullmatch(token):
        raise ProtocolError("bad_frame", '"token" must be the token a welcome frame gave')
    since = _optional_str(obj, "since")
    if since is not None:
        try:
            parse_message_id(since)
        except ValueError:
            raise ProtocolError(
                "bad_frame",
                '"since" must be a message id such as "1700000000000-0": two ASCII numbers '
                "of at most 2^64-1 joined by '-'",
            ) from None
    name = _optional_str(obj, "name")
    if name is not None:
        name = clean_display_name(name)
    return Join(room=room, token=token, since=since, name=name)


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
    ref = obj.get("ref")
    if ref is not None:
        if isinstance(ref, int | float) and not isinstance(ref, bool):
            ref = str(ref)
        if not isinstance(ref, str) or len(ref) > MAX_REF_CHARS:
            raise ProtocolError("bad_frame", f'"ref" must be a string of at most {MAX_REF_CHARS}')
    return Send(text=text, ref=ref, attachments=attachments)


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


def member_add(member_json: str) -> str:
    return f'{{"type":"member_add","member":{member_json}}}'


def member_delete(member_id: str) -> str:
    return f'{{"type":"member_delete","id":{_dumps(member_id)}}}'


def ack(ref: str | None, message_id: str) -> str:
    return _dumps({"type": "ack", "ref": ref, "id": message_id})


def error(code: ErrorCode, detail: str) -> str:
    return _dumps({"type": "error", "code": code, "detail": detail})


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


def dumps_frame(frame: dict[str, Any]) -> str:
    """A server frame built from a dict (the rare frames: attachments' slots and links)."""
    return _dumps(frame)
