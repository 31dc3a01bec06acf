"""In-process broker: the single-server backend (no ``REDIS_URL``).

A real backend with the same guarantees as the Redis one inside one process:
bounded history with increasing ids, presence with connection counts, resume
identities and idempotent sends. Nothing here survives a restart.

History is bounded three ways, since any client can create rooms: ``HISTORY_MAX_LEN``
messages per room, a room's history expires ``HISTORY_TTL_DAYS`` after its last message
(as the Redis stream's key does), and all rooms together hold at most
``MEMORY_HISTORY_BYTES``. When that is reached, a room with history makes space by
dropping its own oldest messages, and a room without any is refused (``HistoryFull``)
until idle rooms expire: conversations going on keep going, new rooms wait.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import protocol
from ..members import Member
from ..snapshot import BrokerStats
from .base import (
    Backend,
    Broker,
    EventSink,
    History,
    HistoryFull,
    IdentityStore,
    Presence,
    Published,
)
from .events import BrokerEvent, MemberJoined, MemberLeft, Publication

# Bounds on state that clients create, so memory cannot grow without limit.
MAX_IDENTITIES = 100_000
MAX_REMEMBERED_REFS = 100_000
# What an entry costs beside its message text: the id tuple, its ints, the deque slot.
ENTRY_OVERHEAD_BYTES = 200


@dataclass(slots=True)
class _RoomHistory:
    entries: deque[tuple[tuple[int, int], str]]  # ((ms, seq), message json)
    last: tuple[int, int] = (0, 0)
    max_deleted: tuple[int, int] = (0, 0)  # newest id trimmed away; resume before it is incomplete
    origin: tuple[int, int] = (0, 0)  # first id this process stored; resume before it is incomplete
    size: int = 0  # bytes held by ``entries`` (message_cost of each)
    written: float = 0.0  # clock reading of the newest message; expiry counts from it


@dataclass(slots=True)
class _Presence:
    member_json: str
    connections: set[str] = field(default_factory=set)


def message_cost(message: str) -> int:
    """Memory one stored message holds, in bytes (1-4 a character, as Python stores text)."""
    return sys.getsizeof(message) + ENTRY_OVERHEAD_BYTES


class MemoryBroker(Broker):
    def __init__(
        self,
        history_max_len: int,
        history_ttl: float = 7 * 86400,
        max_history_bytes: int = 64 * 2**20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._history_max_len = history_max_len
        self._history_ttl = history_ttl
        self._max_history_bytes = max_history_bytes
        self._clock = clock
        # Least recently written first, so expiry looks only at the front.
        self._histories: OrderedDict[str, _RoomHistory] = OrderedDict()
        self._history_bytes = 0
        self._refs: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._subscribed: set[str] = set()
        self._sink: EventSink | None = None

    async def start(self, sink: EventSink) -> None:
        self._sink = sink

    async def close(self) -> None:
        self._sink = None

    @property
    def ready(self) -> bool:
        return self._sink is not None

    def stats(self) -> BrokerStats:
        return BrokerStats(ready=self.ready)

    def emit(self, event: BrokerEvent) -> None:
        """Deliver an event of the room, if this process subscribes to it."""
        if event.room in self._subscribed and self._sink is not None:
            self._sink.deliver(event)

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
        clock = self._clock()
        self._expire(clock)
        history = self._histories.get(room)
        now = int(time.time() * 1000)
        last_ms, last_seq = history.last if history is not None else (0, 0)
        pair = (now, 0) if now > last_ms else (last_ms, last_seq + 1)
        message_id = protocol.format_message_id(pair)
        body = protocol.message_body(member.id, member.username, member.avatar, text)
        message = protocol.message_json(message_id, body)
        cost = message_cost(message)
        if history is None:
            if self._history_bytes + cost > self._max_history_bytes:
                raise HistoryFull(room)
            history = self._histories[room] = _RoomHistory(entries=deque())
        history.written = clock
        self._histories.move_to_end(room)
        history.last = pair
        if not history.entries and history.origin == (0, 0):
            history.origin = pair
        history.entries.append((pair, message))
        history.size += cost
        self._history_bytes += cost
        # The cap, then the shared budget: a room makes space from its own oldest messages.
        while len(history.entries) > self._history_max_len or (
            self._history_bytes > self._max_history_bytes and len(history.entries) > 1
        ):
            self._trim_oldest(history)
        if ref_key is not None:
            self._refs[ref_key] = message_id
            if len(self._refs) > MAX_REMEMBERED_REFS:
                self._refs.popitem(last=False)
        self.emit(Publication(room, message_id, pair, body))
        return Published(message_id=message_id, duplicate=False)

    def _trim_oldest(self, history: _RoomHistory) -> None:
        trimmed, message = history.entries.popleft()
        history.max_deleted = trimmed
        cost = message_cost(message)
        history.size -= cost
        self._history_bytes -= cost

    def _expire(self, clock: float) -> None:
        """Forget rooms without a message for the TTL (Redis expires the stream key)."""
        while self._histories:
            room, history = next(iter(self._histories.items()))
            if clock - history.written < self._history_ttl:
                return
            del self._histories[room]
            self._history_bytes -= history.size

    @property
    def history_bytes(self) -> int:
        """Bytes all rooms' history holds now (at most MEMORY_HISTORY_BYTES + one message)."""
        return self._history_bytes

    async def history(self, room: str, since: str | None, limit: int) -> History:
        self._expire(self._clock())
        history = self._histories.get(room)
        since_pair = protocol.parse_message_id(since) if since is not None else None
        if history is None or limit <= 0:
            # A resume into a room we hold nothing for cannot be proven gap-free.
            complete = since_pair is None or (
                history is not None and self._covers(history, since_pair)
            )
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
        last_id = protocol.format_message_id(newer[-1][0]) if newer else None
        return History(messages=[m for _, m in newer], complete=complete, last_id=last_id)

    @staticmethod
    def _covers(history: _RoomHistory, since: tuple[int, int]) -> bool:
        """True when everything after ``since`` is still held: not trimmed, not from before
        this process started storing, and not newer than the newest id ever stored (an id
        the relay never issued, e.g. from the future, cannot be vouched for)."""
        return history.max_deleted <= since <= history.last and since >= history.origin


class MemoryPresence(Presence):
    """Connections per member per room; joins and leaves go out through the broker."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        self._presence: dict[str, dict[str, _Presence]] = {}

    async def join_room(self, room: str, member: Member, connection_id: str) -> None:
        members = self._presence.setdefault(room, {})
        entry = members.get(member.id)
        if entry is None:
            entry = members[member.id] = _Presence(member_json=member.to_json())
            entry.connections.add(connection_id)
            self._broker.emit(MemberJoined(room, member.id, entry.member_json))
        else:
            entry.connections.add(connection_id)
            member_json = member.to_json()
            if entry.member_json != member_json:  # renamed: the newest join's name wins
                entry.member_json = member_json
                self._broker.emit(MemberJoined(room, member.id, member_json))

    async def leave_room(self, room: str, member_id: str, connection_id: str) -> None:
        members = self._presence.get(room)
        entry = members.get(member_id) if members else None
        if members is None or entry is None or connection_id not in entry.connections:
            return
        entry.connections.discard(connection_id)
        if not entry.connections:
            del members[member_id]
            if not members:
                del self._presence[room]
            self._broker.emit(MemberLeft(room, member_id))

    async def members(self, room: str) -> dict[str, str]:
        return {mid: p.member_json for mid, p in self._presence.get(room, {}).items()}

    async def leave_all(self) -> None:
        """Nothing outlives the process: its presence goes with it."""


class MemoryIdentityStore(IdentityStore):
    """Resume tokens, the least recently used forgotten past MAX_IDENTITIES."""

    def __init__(self) -> None:
        self._identities: OrderedDict[str, str] = OrderedDict()

    async def save_identity(
        self, token: str, member: Member, *, ttl_seconds: int | None = None, keep_ttl: bool = False
    ) -> None:
        # Bounded by count (MAX_IDENTITIES, oldest out), not by time: nothing outlives the process.
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


def memory_backend(
    history_max_len: int,
    history_ttl: float = 7 * 86400,
    max_history_bytes: int = 64 * 2**20,
    clock: Callable[[], float] = time.monotonic,
) -> Backend:
    """The single-server backend: one process's broker, presence and identities."""
    broker = MemoryBroker(history_max_len, history_ttl, max_history_bytes, clock)
    return Backend(broker=broker, presence=MemoryPresence(broker), identities=MemoryIdentityStore())
