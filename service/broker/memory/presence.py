"""Presence and resume identities of the single-server backend, in this process only."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from ...members import Member
from ..base import IdentityStore, Presence

MAX_IDENTITIES = 100_000  # resume tokens kept; the least recently used go first


@dataclass(slots=True)
class _Presence:
    member_json: str
    connections: set[str] = field(default_factory=set)


class MemoryPresence(Presence):
    """Connections per member per room."""

    def __init__(self) -> None:
        self._presence: dict[str, dict[str, _Presence]] = {}

    async def join_room(self, room: str, member: Member, connection_id: str) -> bool:
        members = self._presence.setdefault(room, {})
        member_json = member.to_json()
        entry = members.get(member.id)
        if entry is None:
            entry = members[member.id] = _Presence(member_json=member_json)
            entry.connections.add(connection_id)
            return True
        entry.connections.add(connection_id)
        if entry.member_json == member_json:
            return False
        entry.member_json = member_json  # renamed: the newest join's name wins
        return True

    async def leave_room(self, room: str, member_id: str, connection_id: str) -> bool:
        members = self._presence.get(room)
        entry = members.get(member_id) if members else None
        if members is None or entry is None or connection_id not in entry.connections:
            return False
        entry.connections.discard(connection_id)
        if entry.connections:
            return False
        del members[member_id]
        if not members:
            del self._presence[room]
        return True

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
