"""Who may join a room: private rooms need a valid ``room_token``; banned members wait
until their ban ends. A refused join gets an ``error`` and the connection stays usable."""

from __future__ import annotations

import math

from .moderation import Moderation
from .room_tokens import RoomTokens


class Admission:
    def __init__(self, room_tokens: RoomTokens, moderation: Moderation) -> None:
        self.room_tokens = room_tokens
        self.moderation = moderation

    def forbidden(self, room: str, room_token: str | None, subject: str | None) -> str | None:
        """Why the join may not enter the room (``forbidden``), or None."""
        return self.room_tokens.refusal(room, room_token, subject)

    async def banned(self, member_id: str) -> str | None:
        """Why the member may not join now (``banned``), or None."""
        seconds = await self.moderation.banned_for(member_id)
        if seconds <= 0:
            return None
        return f"you were removed from the chat; you may join again in {math.ceil(seconds)} s"
