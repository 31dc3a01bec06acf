"""What moderation offers the server API and the join: ban, ask whether banned, disconnect."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol


class MemberCloser(Protocol):
    """This process's side of a disconnect (the hub): close the member's local connections."""

    def disconnect_member(self, member_id: str, reason: str) -> int:
        """Close every local connection of the member (4003); how many there were."""


class Moderation(ABC):
    @abstractmethod
    async def start(self, closer: MemberCloser) -> None:
        """Begin carrying out disconnects (in Redis mode, those asked on any relay)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ban(self, member_id: str, seconds: int) -> None:
        """Refuse the member's joins for ``seconds`` (a new ban replaces an older one)."""

    @abstractmethod
    async def banned_for(self, member_id: str) -> float:
        """Seconds the member's ban still runs; 0 when not banned."""

    @abstractmethod
    async def disconnect(self, member_id: str, reason: str) -> int:
        """Close every connection of the member on every relay; how many were closed."""
