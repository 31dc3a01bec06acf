"""A room's history in Redis: a capped stream, written and published by one Lua script
(``scripts/publish.lua``) so the stored order is the delivered order, and read back for
joins, resumes and backfills with proof of whether anything is missing."""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError

from ... import protocol
from ...config import Settings
from ...members import Member
from ..base import History, Published
from .clients import RedisClients, as_str
from .keys import channel_of, history_key, origin_key, ref_key

REF_TTL_SECONDS = 600

# Stored messages as (message id, body), oldest first (body: protocol.message_body).
Entries = list[tuple[str, str]]


class RedisHistory:
    def __init__(self, clients: RedisClients, settings: Settings) -> None:
        self._clients = clients
        self._redis = clients.commands
        self._max_len = settings.history_max_len
        self._ttl = settings.history_ttl_days * 86400
        self._publish_script = clients.script("publish.lua")
        self._format = settings.redis_publish_format  # what the script publishes

    async def publish(self, room: str, member: Member, text: str, ref: str | None) -> Published:
        body = protocol.message_body(member.id, member.username, member.avatar, text)
        args: list[str | int] = [
            channel_of(room),
            self._clients.publish_command,
            body,
            self._max_len,
            self._ttl,
        ]
        async with self._clients.guard():
            message_id, duplicate = await self._publish_script(
                keys=[history_key(room), ref_key(room, member.id, ref), origin_key(room)],
                args=[*args, REF_TTL_SECONDS, "1" if ref is not None else "0", self._format],
            )
        return Published(message_id=as_str(message_id), duplicate=bool(duplicate))

    async def history(self, room: str, since: str | None, limit: int) -> History:
        entries, complete = await self.read(room, since, limit)
        messages = [protocol.message_json(message_id, body) for message_id, body in entries]
        last_id = entries[-1][0] if entries else None
        return History(messages=messages, complete=complete, last_id=last_id)

    async def newest(self, room: str) -> tuple[int, int] | None:
        """The position of the room's newest stored message, None for an empty room."""
        async with self._clients.guard():
            newest = await self._redis.xrevrange(history_key(room), count=1)
        return protocol.parse_message_id(as_str(newest[0][0])) if newest else None

    async def read(self, room: str, since: str | None, limit: int) -> tuple[Entries, bool]:
        """Up to ``limit`` newest messages (after ``since``), oldest first, and whether
        they are everything after ``since``."""
        key = history_key(room)
        async with self._clients.guard():
            if since is None:
                entries = await self._redis.xrevrange(key, count=limit) if limit > 0 else []
                complete = True
            else:
                # Nothing can follow the largest id, and Redis refuses "(" before it.
                after_max = protocol.parse_message_id(since) == protocol.MAX_MESSAGE_ID
                async with self._redis.pipeline(transaction=False) as pipe:
                    if not after_max:
                        pipe.xrevrange(key, min=f"({since}", count=limit + 1)
                    pipe.xinfo_stream(key)
                    pipe.get(origin_key(room))
                    results = await pipe.execute(raise_on_error=False)
                entries, info, origin = ([], *results) if after_max else results
                if isinstance(entries, Exception):
                    raise entries
                more = len(entries) > limit
                entries = entries[:limit]
                complete = not more and _covers(info, origin, since)
        entries.reverse()
        return [(as_str(i), as_str(fields["m"])) for i, fields in entries], complete


def _covers(info: Any, origin: Any, since: str) -> bool:
    """True when the stream still holds everything after ``since``.

    ``since`` must belong to the stream's current incarnation (not older than its
    origin: a stream lost with a Redis restart, or expired, is recreated with a new
    origin), must not be older than what trimming removed (max-deleted-entry-id) and
    not newer than the last id the stream generated.
    """
    if isinstance(info, ResponseError):
        return False  # no stream: Redis lost it or it expired; we cannot prove no gap
    for result in (info, origin):
        if isinstance(result, Exception):
            raise result
    since_pair = protocol.parse_message_id(since)
    max_deleted = as_str(info.get("max-deleted-entry-id", "0-0"))
    if since_pair < protocol.parse_message_id(max_deleted):
        return False
    # An id newer than any the stream generated (from the future, or from data Redis
    # lost) is not one we can vouch for.
    if since_pair > protocol.parse_message_id(as_str(info["last-generated-id"])):
        return False
    return origin is None or since_pair >= protocol.parse_message_id(as_str(origin))
