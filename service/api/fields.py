"""The server API's inputs, checked with the WebSocket protocol's rules: each check returns
the clean value or raises a 400 that says what to fix."""

from __future__ import annotations

from typing import Any

from contract.protocol import (
    API_PAGE_DEFAULT,
    API_PAGE_MAX,
    BAN_MAX_SECONDS,
    IDEMPOTENCY_KEY_MAX_CHARS,
    MAX_TEXT_CHARS,
    ROOM_NAME,
)

from .. import protocol
from ..members import MEMBER_ID_BYTES
from .errors import bad_request

DEFAULT_USERNAME = "server"
HEX = frozenset("0123456789abcdef")


def room(value: str) -> str:
    if not ROOM_NAME.fullmatch(value):
        raise bad_request(
            "bad_room",
            "room must be 1-64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
        )
    return value


def message_id(value: str, what: str = "message id") -> str:
    try:
        protocol.parse_message_id(value)
    except ValueError:
        raise bad_request(
            "bad_id", f'{what} must be a message id such as "1700000000000-0"'
        ) from None
    return value


def member_id(value: str) -> str:
    if len(value) != 2 * MEMBER_ID_BYTES or not set(value) <= HEX:
        raise bad_request(
            "bad_id",
            f"member id must be {2 * MEMBER_ID_BYTES} lower-case hex digits, "
            "as in a member object's id",
        )
    return value


def text(body: dict[str, Any]) -> str:
    value = body.get("text")
    if not isinstance(value, str):
        raise bad_request("bad_text", '"text" is required and must be a string')
    value = value.strip()
    if protocol.is_blank(value):
        raise bad_request("bad_text", '"text" is empty (or only invisible characters)')
    if len(value) > MAX_TEXT_CHARS:
        raise bad_request("bad_text", f'"text" is over {MAX_TEXT_CHARS} characters')
    return value


def username(body: dict[str, Any]) -> str:
    value = body.get("username", DEFAULT_USERNAME)
    if not isinstance(value, str):
        raise bad_request("bad_name", '"username" must be a string')
    try:
        return protocol.clean_display_name(value)
    except protocol.ProtocolError as exc:
        raise bad_request("bad_name", f'"username": {exc.detail}') from None


def idempotency_key(body: dict[str, Any]) -> str | None:
    value = body.get("idempotency_key")
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= IDEMPOTENCY_KEY_MAX_CHARS:
        raise bad_request(
            "bad_body",
            f'"idempotency_key" must be a string of 1-{IDEMPOTENCY_KEY_MAX_CHARS} characters',
        )
    return value


def ban_seconds(body: dict[str, Any]) -> int:
    value = body.get("ban_seconds", 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BAN_MAX_SECONDS:
        raise bad_request(
            "bad_body", f'"ban_seconds" must be a whole number of seconds, 0..{BAN_MAX_SECONDS}'
        )
    return value


def limit(raw: str | None) -> int:
    if raw is None:
        return API_PAGE_DEFAULT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= API_PAGE_MAX:
        raise bad_request("bad_limit", f"limit must be a whole number, 1..{API_PAGE_MAX}")
    return int(raw)
