"""The broker's three interfaces, as centrifuge divides them, and the backend bundling them.

``Broker`` fans a room's events out to every process subscribed to it and keeps its
history; ``Presence`` records who is in a room (and only records: ``member_events``
publishes its joins and leaves through the broker); ``IdentityStore`` keeps resume tokens. The hub
(``service.hub``) talks only to these; ``memory`` and ``redis`` implement all three.
Nothing here builds a client frame: the hub asks ``service.protocol`` for those.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from contract.protocol import IDEMPOTENCY_WINDOW

from ..members import Member
from ..observability.snapshot import BrokerStats
from .events import BrokerEvent


class EventSink(Protocol):
    """Where a broker delivers its events: the hub, which also keeps the delivery position."""

    def deliver(self, event: BrokerEvent) -> None:
        """Called synchronously, once per process, for every event of a subscribed room."""

    def position(self, room: str) -> tuple[int, int] | None:
        """The newest message position delivered in the room, None before the first."""


@dataclass(frozen=True, slots=True)
class History:
    messages: list[str]  # pre-encoded message objects, oldest first
    complete: bool  # False when messages after ``since`` were trimmed away or lost
    last_id: str | None  # id of the newest message returned, if any


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """A page of scroll-back: the newest messages older than a point."""

    messages: list[str]  # pre-encoded message objects, oldest first, tombstoned ones left out
    complete: bool  # True when the room keeps nothing older than these
    next_before: str | None  # where the next page starts (the oldest id read), if any


Body = str
"""What ``Broker.publish`` carries, opaque to the broker and built by ``service.protocol``:
with history, a stored message's fields (``protocol.message_body``: a JSON object's
members, to which the broker adds ``id`` and ``date``); without history, a whole client
frame (``protocol.member_add``, a typing notice), delivered as it is."""

IDEMPOTENCY_TTL_SECONDS = IDEMPOTENCY_WINDOW  # the protocol's 10 minutes (contract.protocol)


@dataclass(frozen=True, slots=True)
class PublishOptions:
    """How ``Broker.publish`` treats a body (centrifuge's PublishOptions, cut to our needs)."""

    history: bool = True  # False: fan out only (member events, typing notices), nothing stored
    # The same key within ``idempotency_ttl`` seconds publishes nothing new and answers with
    # the first publish's result (a client's retried send; the server API's retried POST).
    idempotency_key: str | None = None
    idempotency_ttl: int = IDEMPOTENCY_TTL_SECONDS
    # A message id to delete: from now on no history read (join, ``since``, paging,
    # backfill) carries that message. Tombstones live as long as the room's history.
    tombstone: str | None = None


@dataclass(frozen=True, slots=True)
class PublishResult:
    message_id: str | None  # the stored message's id; None for a publish without history
    duplicate: bool  # True when the idempotency key was seen: nothing new was published


Position = tuple[int, int]  # a message id as an ordered pair (protocol.parse_message_id)


def covers(since: Position, *, trimmed: Position, newest: Position, origin: Position) -> bool:
    """The gap-proof rule of a resume, for every backend: a history holds everything after
    ``since`` when ``since`` is not older than what trimming removed (``trimmed``), belongs
    to the history's current incarnation (not older than its ``origin``: history lost with
    a restart, or expired, starts anew) and is not newer than the ``newest`` id ever issued
    (an id from the future, or from data that was lost, cannot be vouched for)."""
    return trimmed <= since <= newest and since >= origin


class BrokerUnavailable(Exception):
    """The shared store cannot be reached right now; the caller tells the client to retry."""


class HistoryFull(Exception):
    """The store holds all the history it may (the memory broker's MEMORY_HISTORY_BYTES) and
    the room has none to give up: nothing was stored."""


class Broker(ABC):
    """Publish, subscribe and history. Every method is safe to call from many connections."""

    @abstractmethod
    async def start(self, sink: EventSink) -> None:
        """Connect and begin delivering events of subscribed rooms to ``sink``."""

    @abstractmethod
    async def close(self) -> None: ...

    @property
    @abstractmethod
    def ready(self) -> bool:
        """True while the broker can store and deliver (drives ``/readyz``)."""

    @abstractmethod
    def stats(self) -> BrokerStats:
        """Readiness and recovery counters, for the metrics."""

    @abstractmethod
    async def subscribe(self, room: str) -> None:
        """Start receiving the room's events; returns once delivery is active."""

    @abstractmethod
    async def unsubscribe(self, room: str) -> None: ...

    @abstractmethod
    async def publish(self, room: str, body: Body, options: PublishOptions) -> PublishResult:
        """Publish ``body`` to the room's subscribers, storing it first when
        ``options.history`` (store, tombstone and publish happen atomically, so the
        stored order is the delivered order)."""

    @abstractmethod
    async def history(self, room: str, since: str | None, limit: int) -> History:
        """Up to ``limit`` newest messages (after ``since`` when given), oldest first."""

    @abstractmethod
    async def history_before(self, room: str, before: str | None, limit: int) -> HistoryPage:
        """Up to ``limit`` newest messages older than ``before`` (of all, when None)."""


# (room, member id, connection id, member json or None): a connection of a process that
# stopped without closing it, reaped from the room's presence by this one.
LostConnection = Callable[[str, str, str, str | None], None]


class Presence(ABC):
    """Who is in each room, across processes."""

    # Told of each connection this process reaps (the hub sets it: events out). A backend
    # of one process reaps nothing and never calls it.
    on_connection_lost: LostConnection | None = None

    @abstractmethod
    async def join_room(self, room: str, member: Member, connection_id: str) -> bool:
        """Record a connection; True when the room must hear that the member joined: its
        first connection, or a new one under a new name (the newest join's name wins)."""

    @abstractmethod
    async def leave_room(self, room: str, member_id: str, connection_id: str) -> bool:
        """Forget a connection; True when it was the member's last (the room must hear it),
        False when it was not or was already forgotten."""

    @abstractmethod
    async def members(self, room: str) -> dict[str, str]:
        """Member id -> pre-encoded member object, for everyone present in the room."""

    @abstractmethod
    async def leave_all(self) -> None:
        """On shutdown, withdraw this process's presence."""


class IdentityStore(ABC):
    """Resume tokens: which member a token stands for."""

    @abstractmethod
    async def save_identity(
        self, token: str, member: Member, *, ttl_seconds: int | None = None, keep_ttl: bool = False
    ) -> None:
        """Store the member under ``token`` for ``ttl_seconds`` (None: IDENTITY_TTL_DAYS), or
        with ``keep_ttl`` for as long as the token already had (a rename)."""

    @abstractmethod
    async def load_identity(self, token: str) -> Member | None: ...


@dataclass(frozen=True, slots=True)
class Backend:
    """One backend's three parts, as the hub uses them."""

    broker: Broker
    presence: Presence
    identities: IdentityStore

    async def close(self) -> None:
        await self.presence.leave_all()
        await self.broker.close()
