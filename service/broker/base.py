"""The Broker interface: everything a relay process shares with the others.

A broker stores history, fans frames out to every process subscribed to a room,
tracks presence and keeps resume identities. The hub (``service.hub``) talks only
to this interface; ``memory`` and ``redis`` implement it. Frames travel as the
wire text of protocol v1, encoded once by whoever creates them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from ..members import Member
from ..snapshot import BrokerStats

# Called for every frame published to a room this process subscribes to:
# (room, frame text, message id or None for presence frames).
FrameHandler = Callable[[str, str, str | None], None]


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
    """Shared state of the chat. Every method is safe to call from many connections."""

    @abstractmethod
    async def start(self, on_frame: FrameHandler) -> None:
        """Connect and begin delivering frames of subscribed rooms to ``on_frame``."""

    @abstractmethod
    async def close(self) -> None: ...

    @property
    @abstractmethod
    def ready(self) -> bool:
        """True while the broker can store and deliver (drives ``/readyz``)."""

    @abstractmethod
    def stats(self) -> BrokerStats:
        """Readiness and recovery counters, for the metrics."""

    # fan-out and history

    @abstractmethod
    async def subscribe(self, room: str) -> None:
        """Start receiving the room's frames; returns once delivery is active."""

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

    # presence

    @abstractmethod
    async def join_room(self, room: str, member: Member, connection_id: str) -> None:
        """Record a connection; publish ``member_add`` when it is the member's first."""

    @abstractmethod
    async def leave_room(self, room: str, member_id: str, connection_id: str) -> None:
        """Forget a connection; publish ``member_delete`` when it was the member's last."""

    @abstractmethod
    async def members(self, room: str) -> dict[str, str]:
        """Member id -> pre-encoded member object, for everyone present in the room."""

    # identity

    @abstractmethod
    async def save_identity(self, token: str, member: Member) -> None: ...

    @abstractmethod
    async def load_identity(self, token: str) -> Member | None: ...
