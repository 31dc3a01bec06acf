"""In-process broker: the single-server backend (no ``REDIS_URL``).

A real backend with the same guarantees as the Redis one inside one process:
bounded history with increasing ids, presence with connection counts, resume
identities and idempotent sends. Nothing here survives a restart.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from .. import protocol
from ..members import Member
from .base import Broker, FrameHandler, History, Published

# Bounds on state that clients create, so memory cannot grow without limit.
MAX_IDENTITIES = 100_000
MAX_REMEMBERED_REFS = 100_000


@dataclass(slots=True)
class _RoomHistory:
    entries: deque[tuple[tuple[int, int], str]]  # ((ms, seq), message json)
    last: tuple[int, int] = (0, 0)
    max_deleted: tuple[int, int] = (0, 0)  # newest id trimmed away; resume before it is incomplete
    origin: tuple[int, int] = (0, 0)  # first id this process stored; resume before it is incomplete


@dataclass(slots=True)
class _Presence:
    member_json: str
    connections: set[str] = field(default_factory=set)


def _format_id(pair: tuple[int, int]) -> str:
    return f"{pair[0]}-{pair[1]}"


class MemoryBroker(Broker):
    def __init__(self, history_max_len: int) -> None:
        self._history_max_len = history_max_len
        self._histories: dict[str, _RoomHistory] = {}
        self._presence: dict[str, dict[str, _Presence]] = {}
        self._identities: OrderedDict[str, str] = OrderedDict()
        self._refs: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._subscribed: set[str] = set()
        self._on_frame: FrameHandler | None = None

    async def start(self, on_frame: FrameHandler) -> None:
        self._on_frame = on_frame

    async def close(self) -> None:
        self._on_frame = None

    @property
    def ready(self) -> bool:
        return self._on_frame is not None

    def _publish(self, room: str, frame: str, message_id: str | None) -> None:
        if room in self._subscribed and self._on_frame is not None:
            self._on_frame(room, frame, message_id)

    # fan-out and history

    async def subscribe(self, room: str) -> None:
        self._subscribed.add(room)

    async def unsubscribe(self, room: str) -> None:
        self._subscribed.discard(room)

    async def publish_message(
        self, room: str, member: Member, text: str, ref: str | None
    ) -> Published:
        ref_key = (room, member.id, ref) if ref is not None else None
        if ref_key is not None and ref_key in self._refs:
            return Published(message_id=self._refs[ref_key], duplicate=True)
        history = self._histories.get(room)
        if history is None:
            history = self._histories[room] = _RoomHistory(entries=deque())
        now = int(time.time() * 1000)
        last_ms, last_seq = history.last
        pair = (now, 0) if now > last_ms else (last_ms, last_seq + 1)
        history.last = pair
        if not history.entries and history.origin == (0, 0):
            history.origin = pair
        message_id = _format_id(pair)
        body = protocol.message_body(member.id, member.username, member.avatar, text)
        message = protocol.message_json(message_id, body)
        history.entries.append((pair, message))
        if len(history.entries) > self._history_max_len:
            trimmed, _ = history.entries.popleft()
            history.max_deleted = trimmed
        if ref_key is not None:
            self._refs[ref_key] = message_id
            if len(self._refs) > MAX_REMEMBERED_REFS:
                self._refs.popitem(last=False)
        self._publish(room, protocol.messages(message), message_id)
        return Published(message_id=message_id, duplicate=False)

    async def history(self, room: str, since: str | None, limit: int) -> History:
        history = self._histories.get(room)
        since_pair = protocol.parse_message_id(since) if since is not None else None
        if history is None or limit <= 0:
            # A resume into a room we hold nothing for cannot be proven gap-free.
            complete = since is None or (history is not None and self._covers(history, since_pair))
            return History(messages=[], complete=complete, last_id=None)
        if since_pair is None:
            newer = list(history.entries)
            complete = True
        else:
            newer = [entry for entry in history.entries if entry[0] > since_pair]
            complete = self._covers(history, since_pair)
        if len(newer) > limit:
            newer = newer[-limit:]
            complete = complete and since is None
        last_id = _format_id(newer[-1][0]) if newer else None
        return History(messages=[m for _, m in newer], complete=complete, last_id=last_id)

    @staticmethod
    def _covers(history: _RoomHistory, since: tuple[int, int]) -> bool:
        """True when everything after ``since`` is still held: not trimmed, not from before
        this process started storing, and not newer than the newest id ever stored (an id
        the relay never issued, e.g. from the future, cannot be vouched for)."""
        return history.max_deleted <= since <= history.last and since >= history.origin

    # presence

    async def join_room(self, room: str, member: Member, connection_id: str) -> None:
        members = self._presence.setdefault(room, {})
        entry = members.get(member.id)
        if entry is None:
            entry = members[member.id] = _Presence(member_json=member.to_json())
            entry.connections.add(connection_id)
            self._publish(room, protocol.member_add(entry.member_json), None)
        else:
            entry.connections.add(connection_id)

    async def leave_room(self, room: str, member_id: str, connection_id: str) -> None:
        members = self._presence.get(room)
        entry = members.get(member_id) if members else None
        if entry is None or connection_id not in entry.connections:
            return
        entry.connections.discard(connection_id)
        if not entry.connections:
            del members[member_id]
            if not members:
                del self._presence[room]
            self._publish(room, protocol.member_delete(member_id), None)

    async def members(self, room: str) -> dict[str, str]:
        return {mid: p.member_json for mid, p in self._presence.get(room, {}).items()}

    # identity

    async def save_identity(self, token: str, member: Member) -> None:
        self._identities[token] = member.to_json()
        self._identities.move_to_end(token)
        if len(self._identities) > MAX_IDENTITIES:
            self._identities.popitem(last=False)

    async def load_identity(self, token: str) -> Member | None:
        raw = self._identities.get(token)
        if raw is None:
            return None
        self._identities.move_to_end(token)
        return Member.from_json(raw)
