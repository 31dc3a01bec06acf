"""Presence in Redis: who is in each room across processes.

Per room, a zset of connections scored by expiry, connection counts and member JSON
per member (``keys.presence_keys``), changed only by two Lua scripts that report the
room's joins and leaves exactly once; the hub announces its own (``member_events``), this
module the members its heartbeat reaps or re-adds. Each process heartbeats its own connections and
reaps those of processes that stopped (crashed) in the rooms it serves. Members are
read from Redis once per room and then kept from the room's events (``roster.py``)
while the fan-out hears them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ...members import Member
from ..base import BrokerUnavailable, Presence
from ..member_events import MemberEvents
from ..roster import Rosters
from ..settings import RedisBrokerSettings
from .clients import RedisClients, as_str
from .keys import presence_keys


class RedisPresence(Presence):
    def __init__(
        self,
        clients: RedisClients,
        settings: RedisBrokerSettings,
        rosters: Rosters,
        events: MemberEvents,
        *,
        hears: Callable[[str], bool],
        served_rooms: Callable[[], list[str]],
    ) -> None:
        self._clients = clients
        self._redis = clients.commands
        self._rosters = rosters
        self._events = events
        self._hears = hears  # whether the room's events reach this process right now
        self._served_rooms = served_rooms  # rooms subscribed here: reaped here too
        self._refresh_script = clients.script("presence_refresh.lua")
        self._leave_script = clients.script("presence_leave.lua")
        self._ttl_ms = int(settings.presence_ttl * 1000)
        self._key_ttl = int(settings.presence_ttl * 3) + 1
        self._interval = settings.presence_ttl / 4
        self._local: dict[str, dict[str, str]] = {}  # room -> connection key -> member json
        self._heartbeat: asyncio.Task[None] | None = None

    @staticmethod
    def _connection_key(member_id: str, connection_id: str) -> str:
        return sys.intern(f"{member_id}/{connection_id}")  # one copy for all its rooms

    async def join_room(self, room: str, member: Member, connection_id: str) -> bool:
        if self._heartbeat is None:
            loop = asyncio.get_running_loop()
            self._heartbeat = loop.create_task(self._heartbeat_loop(), name="redis-presence")
        key = self._connection_key(member.id, connection_id)
        member_json = member.to_json()
        self._local.setdefault(room, {})[key] = member_json
        async with self._clients.guard():
            left, joined = await self._refresh(room, {key: member_json})
            await self._announce(room, left, [])  # others reaped on the way
        self._rosters.event(room, member.id, member_json)  # ours, before its event is back
        return bool(joined)

    async def leave_room(self, room: str, member_id: str, connection_id: str) -> bool:
        key = self._connection_key(member_id, connection_id)
        entries = self._local.get(room)
        if entries is not None:
            entries.pop(key, None)
            if not entries:
                del self._local[room]
        async with self._clients.guard():
            gone = bool(await self._leave_script(keys=presence_keys(room), args=[key, member_id]))
        if gone:
            self._rosters.event(room, member_id, None)
        return gone

    async def members(self, room: str) -> dict[str, str]:
        hears = functools.partial(self._hears, room)
        members = self._rosters.get(room) if hears() else None
        if members is not None:
            return members
        async with self._clients.guard():
            return await self._rosters.read(
                room, functools.partial(self._redis.hgetall, presence_keys(room)[2]), keep=hears
            )

    async def leave_all(self) -> None:
        """On shutdown, remove this process's presence instead of leaving it to expire."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
        for room, entries in list(self._local.items()):
            for key in list(entries):
                member_id, _, connection_id = key.partition("/")
                with contextlib.suppress(Exception):
                    if await self.leave_room(room, member_id, connection_id):
                        await self._events.left(room, member_id)

    async def _refresh(self, room: str, entries: dict[str, str]) -> tuple[list[str], list[str]]:
        """Heartbeat ``entries``; the member ids reaped (left) and the members joined."""
        args: list[Any] = [self._ttl_ms, self._key_ttl]
        for connection_key, member_json in entries.items():
            args += [connection_key, connection_key.partition("/")[0], member_json]
        left, joined, reaped = await self._refresh_script(keys=presence_keys(room), args=args)
        self._tell_lost(room, [as_str(r) for r in reaped])
        return [as_str(m) for m in left], [as_str(m) for m in joined]

    def _tell_lost(self, room: str, reaped: list[str]) -> None:
        """Each reaped connection of another process to ``on_connection_lost``. Ours (reaped
        after this process stalled past the ttl, and re-added) are still open: not lost."""
        if self.on_connection_lost is None:
            return
        ours = self._local.get(room, {})
        for connection_key, member_json in zip(reaped[::2], reaped[1::2], strict=True):
            if connection_key not in ours:
                member_id, _, connection_id = connection_key.partition("/")
                self.on_connection_lost(room, member_id, connection_id, member_json or None)

    async def _announce(self, room: str, left: list[str], joined: list[str]) -> None:
        for member_id in left:
            await self._events.left(room, member_id)
        for member_json in joined:
            await self._events.joined(room, member_json)

    async def _heartbeat_loop(self) -> None:
        """Heartbeat this process's connections and reap other processes' dead ones."""
        while True:
            await asyncio.sleep(self._interval)
            for room in list(set(self._served_rooms()) | set(self._local)):
                try:
                    left, joined = await self._refresh(room, dict(self._local.get(room, {})))
                    await self._announce(room, left, joined)
                except (RedisError, OSError, BrokerUnavailable):
                    break  # Redis is away; the next round re-adds everything
