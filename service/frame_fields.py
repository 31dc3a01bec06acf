"""The checks every client frame shares: its error type, its common fields, and what
counts as visible text (a message's, a display name's).

``protocol`` (join, send, ping) and ``room_frames`` (subscribe, unsubscribe, history,
typing) both read these; each check raises a ``ProtocolError`` naming what is wrong.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from contract.protocol import (
    BIDI_CONTROLS,
    MAX_NAME_CHARS,
    MAX_REF_CHARS,
    MAX_ROOM_TOKEN_CHARS,
    ROOM_NAME,
    ErrorCode,
)

# Message ids are exactly what Redis accepts as a stream id: two parts of 1-20 ASCII digits
# (not Arabic-Indic or fullwidth ones), each an unsigned 64-bit integer (parse_message_id).
MAX_ID_DIGITS = 20
MAX_ID_PART = 2**64 - 1


class ProtocolError(Exception):
    """Bad input from a client; becomes an ``error`` frame, the connection stays open."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


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


def optional_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError("bad_frame", f'"{key}" must be a string')
    return value


def room_field(obj: dict[str, Any], default: str | None) -> str | None:
    """The frame's ``room``: a valid name, or ``default`` when it has none."""
    room = optional_str(obj, "room")
    if room is None:
        return default
    if not ROOM_NAME.fullmatch(room):
        raise ProtocolError(
            "bad_room",
            "room must be 1-64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
        )
    return room


def required_room(obj: dict[str, Any]) -> str:
    room = room_field(obj, None)
    if room is None:
        raise ProtocolError("bad_room", f'a "{obj.get("type")}" frame needs a "room"')
    return room


def room_token_field(obj: dict[str, Any]) -> str | None:
    """A private room's ``room_token`` (a JWT; checked by ``admission``, not here)."""
    room_token = optional_str(obj, "room_token")
    if room_token is not None and not 0 < len(room_token) <= MAX_ROOM_TOKEN_CHARS:
        raise ProtocolError(
            "bad_frame", f'"room_token" must be a JWT of at most {MAX_ROOM_TOKEN_CHARS} characters'
        )
    return room_token


def message_id_field(obj: dict[str, Any], key: str) -> str | None:
    """An optional message id (``since``, ``before``), checked as Redis would."""
    value = optional_str(obj, key)
    if value is not None:
        try:
            parse_message_id(value)
        except ValueError:
            raise ProtocolError(
                "bad_frame",
                f'"{key}" must be a message id such as "1700000000000-0": two ASCII numbers '
                "of at most 2^64-1 joined by '-'",
            ) from None
    return value


def ref_field(obj: dict[str, Any]) -> str | None:
    """A ``ref`` echoed in the answer: a string of at most MAX_REF_CHARS (a number is
    taken as its text)."""
    ref = obj.get("ref")
    if ref is None:
        return None
    if isinstance(ref, int | float) and not isinstance(ref, bool):
        ref = str(ref)
    if not isinstance(ref, str) or len(ref) > MAX_REF_CHARS:
        raise ProtocolError("bad_frame", f'"ref" must be a string of at most {MAX_REF_CHARS}')
    return ref


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
    if BIDI_CONTROLS.search(name):
        raise ProtocolError(
            "bad_name",
            "name holds a bidi control (U+202A-U+202E, U+2066-U+2069), which would reorder "
            "the text shown after it; remove it",
        )
    return name
