"""The broker's three interfaces, as centrifuge divides them, and the backend bundling them.

``Broker`` fans a room's events out to every process subscribed to it and keeps its
history; ``Presence`` records who is in a room (its joins and leaves reach subscribers
as typed events through the broker); ``IdentityStore`` keeps resume tokens. The hub
(``service.hub``) talks only to these; ``memory`` and ``redis`` implement all three.
Nothing here builds a client frame: the hub asks ``service.protocol`` for those.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

from ..members import Member
from ..snapshot import BrokerStats
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
class Published:
    message_id: str
    duplicate: bool  # True when ``ref`` was already stored: nothing new was published


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
    async def publish_message(
        self, room: str, member: Member, text: str, ref: str | None
    ) -> Published:
        """Store the message in the room's history and publish it, atomically."""

    @abstractmethod
    async def history(self, room: str, since: str | None, limit: int) -> History:
        """Up to ``limit`` newest messages (after ``since`` when given), oldest first."""


class Presence(ABC):
    """Who is in each room, across processes."""

    @abstractmethod
    async def join_room(self, room: str, member: Member, connection_id: str) -> None:
        """Record a connection; publish ``MemberJoined`` when it is the member's first."""

    @abstractmethod
    async def leave_room(self, room: str, member_id: str, connection_id: str) -> None:
        """Forget a connection; publish ``MemberLeft`` when it was the member's last."""

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
