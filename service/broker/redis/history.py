"""A room's history in Redis, read back: a capped stream (written and published by one
Lua script, ``RedisBroker.publish``, so the stored order is the delivered order) read for
joins, resumes, backfills and scroll-back, with proof of whether anything is missing.
Deleted messages (the room's tombstones set) are left out of every read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from ... import protocol
from ...protocol import MAX_MESSAGE_ID
from ..base import History, HistoryPage, covers
from .clients import RedisClients, as_str
from .keys import history_key, origin_key, tombstones_key

# Stored messages as (message id, body), oldest first (body: protocol.message_body).
Entries = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Read:
    entries: Entries  # tombstoned messages left out
    complete: bool  # everything after ``since`` is there (or was deleted)
    last_id: str | None  # the newest id read, deleted or not: live copies up to it are seen


class RedisHistory:
    def __init__(self, clients: RedisClients) -> None:
        self._clients = clients
        self._redis = clients.commands

    async def history(self, room: str, since: str | None, limit: int) -> History:
        read = await self.read(room, since, limit)
        messages = [protocol.message_json(message_id, body) for message_id, body in read.entries]
        return History(messages=messages, complete=read.complete, last_id=read.last_id)

    async def history_before(self, room: str, before: str | None, limit: int) -> HistoryPage:
        if limit <= 0 or (before is not None and protocol.parse_message_id(before) == (0, 0)):
            return HistoryPage(messages=[], complete=limit > 0, next_before=before)
        key = history_key(room)
        kept: Entries = []
        cursor = "+" if before is None else f"({before}"
        complete = False
        # Deleted messages do not fill a page: read on past them (rarely a second round).
        while len(kept) < limit and not complete:
            wanted = limit - len(kept)
            async with self._clients.guard(), self._redis.pipeline(transaction=False) as pipe:
                pipe.xrevrange(key, max=cursor, count=wanted + 1)
                pipe.smembers(tombstones_key(room))
                entries, deleted = await pipe.execute()
            complete = len(entries) <= wanted
            entries = entries[:wanted]
            if entries:
                cursor = f"({as_str(entries[-1][0])}"
            kept += _visible(entries, deleted)
        kept.reverse()
        messages = [protocol.message_json(message_id, body) for message_id, body in kept]
        next_before = kept[0][0] if kept else before
        return HistoryPage(messages=messages, complete=complete, next_before=next_before)

    async def newest(self, room: str) -> tuple[int, int] | None:
        """The position of the room's newest stored message, None for an empty room."""
        async with self._clients.guard():
            newest = await self._redis.xrevrange(history_key(room), count=1)
        return protocol.parse_message_id(as_str(newest[0][0])) if newest else None

    async def read(self, room: str, since: str | None, limit: int) -> Read:
        """Up to ``limit`` newest messages (after ``since``), oldest first, and whether
        they are everything after ``since``."""
        key = history_key(room)
        # Nothing can follow the largest id, and Redis refuses "(" before it.
        after_max = since is not None and protocol.parse_message_id(since) == MAX_MESSAGE_ID
        count = limit if since is None else limit + 1  # one more shows whether more follow
        reads = count > 0 and not after_max
        async with self._clients.guard(), self._redis.pipeline(transaction=False) as pipe:
            pipe.smembers(tombstones_key(room))
            if reads:
                pipe.xrevrange(key, min="-" if since is None else f"({since}", count=count)
            if since is not None:
                pipe.xinfo_stream(key)
                pipe.get(origin_key(room))
            results = await pipe.execute(raise_on_error=False)
        deleted = results.pop(0)
        entries = results.pop(0) if reads else []
        for result in (deleted, entries):
            if isinstance(result, Exception):
                raise result
        complete = True
        if since is not None:
            info, origin = results
            complete = len(entries) <= limit and _covers(info, origin, since)
            entries = entries[:limit]
        last_id = as_str(entries[0][0]) if entries else None
        visible = _visible(entries, deleted)
        visible.reverse()
        return Read(entries=visible, complete=complete, last_id=last_id)


def _visible(entries: list[Any], deleted: set[Any]) -> Entries:
    """Stream entries, newest first, as (id, body) without the tombstoned ones."""
    pairs = ((as_str(i), as_str(fields["m"])) for i, fields in entries)
    return [(i, body) for i, body in pairs if i not in deleted]


def _covers(info: Any, origin: Any, since: str) -> bool:
    """``base.covers`` over the stream's XINFO (max-deleted-entry-id, last-generated-id)
    and its origin key (the first id of the stream's current incarnation)."""
    if isinstance(info, ResponseError):
        return False  # no stream: Redis lost it or it expired; we cannot prove no gap
    for result in (info, origin):
        if isinstance(result, Exception):
            raise result
    parse = protocol.parse_message_id
    return covers(
        parse(since),
        trimmed=parse(as_str(info.get("max-deleted-entry-id", "0-0"))),
        newest=parse(as_str(info["last-generated-id"])),
        origin=(0, 0) if origin is None else parse(as_str(origin)),
    )
