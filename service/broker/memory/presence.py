"""Presence and resume identities of the single-server backend, in this process only."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from ...members import Member
from ..base import IdentityStore, Presence
from ..events import MemberJoined, MemberLeft
from .broker import MemoryBroker

MAX_IDENTITIES = 100_000  # resume tokens kept; the least recently used go first


@dataclass(slots=True)
class _Presence:
    member_json: str
    connections: set[str] = field(default_factory=set)


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
