"""Who is in each room, as this process knows it: kept from the room's presence events.

Reading a room's members hash on every join costs O(room size) in Redis and in the relay,
O(n^2) for a room filling up. Instead the hash is read once per room and then kept current
from the room's own `member_add` / `member_delete` events, which the process receives anyway
while it serves the room. Events that arrive while the hash is being read are replayed over
it in order: per member the last event wins, so the result is current whichever of them the
read already saw.

A roster is only as good as the event stream behind it: the broker keeps one only while
its subscription hears the room, and drops it whenever the subscription was interrupted
(Redis may have lost members without publishing their deletes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

# member id -> the member's JSON, or None for a member that left
Event = tuple[str, str | None]


class Rosters:
    def __init__(self) -> None:
        self._rosters: dict[str, dict[str, str]] = {}  # room -> member id -> member JSON
        self._reads: dict[str, list[list[Event]]] = {}  # room -> events, per read in flight

    def __contains__(self, room: str) -> bool:
        return room in self._rosters

    def get(self, room: str) -> dict[str, str] | None:
        """The room's members, or None when there is no roster to trust."""
        roster = self._rosters.get(room)
        return None if roster is None else dict(roster)  # the caller may await meanwhile

    async def read(
        self,
        room: str,
        fetch: Callable[[], Awaitable[dict[str, str]]],
        keep: Callable[[], bool],
    ) -> dict[str, str]:
        """Read the members with `fetch`, bring the result up to date with the events that
        came meanwhile, and keep it as the room's roster if `keep()` says events still
        reach this process."""
        events: list[Event] = []
        self._reads.setdefault(room, []).append(events)
        try:
            members = await fetch()
        finally:
            # By identity: two reads' lists are equal (==) while they hold the same events,
            # and list.remove would take the other read's.
            reads = [other for other in self._reads[room] if other is not events]
            if reads:
                self._reads[room] = reads
            else:
                del self._reads[room]
        for member_id, member_json in events:
            _apply(members, member_id, member_json)
        if keep():
            self._rosters[room] = dict(members)
        return members

    def event(self, room: str, member_id: str, member_json: str | None) -> None:
        """A member joined (with its JSON) or left (None)."""
        for events in self._reads.get(room, ()):
            events.append((member_id, member_json))
        roster = self._rosters.get(room)
        if roster is not None:
            _apply(roster, member_id, member_json)

    def drop(self, room: str) -> None:
        self._rosters.pop(room, None)


def _apply(roster: dict[str, str], member_id: str, member_json: str | None) -> None:
    if member_json is None:
        roster.pop(member_id, None)
    else:
        roster[member_id] = member_json
