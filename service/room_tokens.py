"""Private rooms: a room named ``private-...`` is joined only with a ``room_token``, a JWT
the product's backend signs (HS256, ROOM_TOKEN_SECRET) for that room and, with sign-in on,
for that person. docs/protocol.md shows how a backend mints one."""

from __future__ import annotations

from typing import Any

import jwt

from contract.protocol import PRIVATE_ROOM_PREFIX

ALGORITHM = "HS256"


def is_private(room: str) -> bool:
    return room.startswith(PRIVATE_ROOM_PREFIX)


class RoomTokens:
    def __init__(self, secret: str | None) -> None:
        self._secret = secret

    def refusal(self, room: str, token: str | None, subject: str | None) -> str | None:
        """Why the join may not enter ``room`` (a detail for the ``forbidden`` error), or
        None when it may. ``subject`` is the signed-in identity's ``sub`` (sign-in on)."""
        if not is_private(room):
            return None
        if self._secret is None:
            return "private rooms are off on this server (ROOM_TOKEN_SECRET is unset)"
        if token is None:
            return f'"{room}" is a private room: join with the "room_token" your app gave you'
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "room"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            return "room_token has expired: ask your app for a new one"
        except jwt.InvalidTokenError as exc:
            return f"room_token is not valid: {exc}"
        if claims["room"] != room:
            return f'room_token is for another room, not "{room}"'
        if subject is not None and claims.get("sub") != subject:
            return "room_token was issued to someone else (its sub is not your signed-in identity)"
        return None
