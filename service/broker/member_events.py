"""Member events: presence records who is in a room; these tell the room.

A member event is a client frame (``protocol.member_add`` / ``member_delete``) published
without history, as any notice: one ``Broker.publish`` call, from here only. The hub
announces its joins and leaves, the Redis presence the members it reaps or re-adds.

As in centrifuge, the event follows the presence change instead of being atomic with it:
a relay that dies in between leaves the room unannounced of that one change (its
connections are reaped later, and that is announced), and two changes of one member on
two relays within one round trip may arrive in the other order.
"""

from __future__ import annotations

from .. import protocol
from .base import Broker, PublishOptions

FAN_OUT_ONLY = PublishOptions(history=False)


class MemberEvents:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def joined(self, room: str, member_json: str) -> None:
        """A member's first connection in the room, or a new one under a new name."""
        await self._broker.publish(room, protocol.member_add(member_json), FAN_OUT_ONLY)

    async def left(self, room: str, member_id: str) -> None:
        """A member's last connection in the room is gone."""
        await self._broker.publish(room, protocol.member_delete(member_id), FAN_OUT_ONLY)
