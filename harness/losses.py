"""The one loss counter: what a receiver got of the messages the relay acknowledged.

`Arrivals` records message ids as they reach one receiver (live or from history): each is
listed once, in arrival order; a repeat counts as a duplicate and an id older than the
newest so far as out of order. `Arrivals.against` compares them with the acknowledged ids:
delivered, lost, foreign (received but never acknowledged to this room).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


def id_key(message_id: str) -> tuple[int, int]:
    """Message ids are `<ms>-<seq>`: compare them as integer pairs (docs/protocol.md)."""
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class Delivery:
    expected: int  # acknowledged messages this receiver should hold
    delivered: int
    lost: int
    duplicated: int
    out_of_order: int
    foreign: int


class Arrivals:
    def __init__(self) -> None:
        self.ids: list[str] = []  # each message once, in arrival order
        self.seen: set[str] = set()
        self.duplicates = 0
        self.out_of_order = 0

    def record(self, message_id: str) -> bool:
        """Count one arrival; True when the message is new to this receiver."""
        if message_id in self.seen:
            self.duplicates += 1
            return False
        if self.ids and id_key(message_id) < id_key(self.ids[-1]):
            self.out_of_order += 1
        self.seen.add(message_id)
        self.ids.append(message_id)
        return True

    def missing(self, expected: set[str]) -> set[str]:
        return expected - self.seen

    def against(self, acknowledged: Collection[str]) -> Delivery:
        acked = set(acknowledged)
        return Delivery(
            expected=len(acknowledged),
            delivered=len(self.seen & acked),
            lost=sum(message_id not in self.seen for message_id in acknowledged),
            duplicated=self.duplicates,
            out_of_order=self.out_of_order,
            foreign=len(self.seen - acked),
        )
