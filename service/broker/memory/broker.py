"""The in-process ``Broker``: history and fan-out of the single-server backend.

The same guarantees as the Redis broker inside one process: bounded history with
increasing ids, idempotent publishes, tombstones. Nothing here survives a restart.

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

from ... import protocol
from ...observability.snapshot import BrokerStats
from ..base import (
    Body,
    Broker,
    EventSink,
    History,
    HistoryFull,
    HistoryPage,
    PublishOptions,
    PublishResult,
    covers,
)
from ..events import BrokerEvent, Publication, notice
from ..settings import MemoryBrokerSettings

# Bounds on state that clients create, so memory cannot grow without limit.
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
    tombstones: set[str] = field(default_factory=set)  # deleted message ids, left out of reads


def message_cost(message: str) -> int:
    """Memory one stored message holds, in bytes (1-4 a character, as Python stores text)."""
    return sys.getsizeof(message) + ENTRY_OVERHEAD_BYTES


class MemoryBroker(Broker):
    def __init__(
        self, settings: MemoryBrokerSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._history_max_len = settings.history_max_len
        self._history_ttl = settings.history_ttl
        self._max_history_bytes = settings.max_history_bytes
        self._clock = clock
        # Least recently written first, so expiry looks only at the front.
        self._histories: OrderedDict[str, _RoomHistory] = OrderedDict()
        self._history_bytes = 0
        # (room, idempotency key) -> (message id, clock reading it expires at)
        self._refs: OrderedDict[tuple[str, str], tuple[str | None, float]] = OrderedDict()
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

    async def publish(self, room: str, body: Body, options: PublishOptions) -> PublishResult:
        clock = self._clock()
        key = options.idempotency_key
        ref = (room, key) if key is not None else None
        if ref is not None and ref in self._refs:
            message_id, expires = self._refs[ref]
            if clock < expires:
                return PublishResult(message_id=message_id, duplicate=True)
            del self._refs[ref]
        # Without history only a frame a subscriber reads is published (else MalformedEvent).
        event = self._store(room, body, clock) if options.history else notice(room, body)
        history = self._histories.get(room)
        if options.tombstone is not None and history is not None:
            history.tombstones.add(options.tombstone)
        message_id = event.message_id if isinstance(event, Publication) else None
        if ref is not None:
            self._refs[ref] = (message_id, clock + options.idempotency_ttl)
            if len(self._refs) > MAX_REMEMBERED_REFS:
                self._refs.popitem(last=False)
        self.emit(event)
        return PublishResult(message_id=message_id, duplicate=False)

    def _store(self, room: str, body: Body, clock: float) -> Publication:
        """Append a message to the room's history under a new id; raises HistoryFull."""
        self._expire(clock)
        history = self._histories.get(room)
        now = int(time.time() * 1000)
        last_ms, last_seq = history.last if history is not None else (0, 0)
        pair = (now, 0) if now > last_ms else (last_ms, last_seq + 1)
        message_id = protocol.format_message_id(pair)
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
        return Publication(room, message_id, pair, body)

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
        # The newest id read, deleted or not: the hub drops live copies up to it.
        last_id = protocol.format_message_id(newer[-1][0]) if newer else None
        messages = self._visible(history, newer)
        return History(messages=messages, complete=complete, last_id=last_id)

    async def history_before(self, room: str, before: str | None, limit: int) -> HistoryPage:
        self._expire(self._clock())
        history = self._histories.get(room)
        if history is None or limit <= 0:
            return HistoryPage(messages=[], complete=limit > 0, next_before=before)
        entries = list(history.entries)
        if before is not None:
            before_pair = protocol.parse_message_id(before)
            entries = [entry for entry in entries if entry[0] < before_pair]
        deleted = history.tombstones
        visible = [e for e in entries if protocol.format_message_id(e[0]) not in deleted]
        page = visible[-limit:]
        next_before = protocol.format_message_id(page[0][0]) if page else before
        return HistoryPage(
            messages=[message for _, message in page],
            complete=len(visible) <= limit,
            next_before=next_before,
        )

    @staticmethod
    def _visible(history: _RoomHistory, entries: list[tuple[tuple[int, int], str]]) -> list[str]:
        deleted = history.tombstones
        if not deleted:
            return [message for _, message in entries]
        return [m for pair, m in entries if protocol.format_message_id(pair) not in deleted]

    @staticmethod
    def _covers(history: _RoomHistory, since: tuple[int, int]) -> bool:
        """``base.covers``; the origin is the first id this process stored."""
        return covers(
            since, trimmed=history.max_deleted, newest=history.last, origin=history.origin
        )
