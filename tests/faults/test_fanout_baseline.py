"""Case 1: fan-out baseline across 3 relays on one redis-server.

What must hold, with no fault injected: every acknowledged message reaches every member of its
room exactly once, whichever relay the sender and the member are on (0 lost, 0 duplicated),
and every member of a room sees that room's messages in the stored order: ids ascending, the
same sequence for everyone. Nobody is disconnected.

The figures (deliveries, fan-out latency from send to receipt, measured by the test's own
clients in one process) are printed and appended to test-artifacts/faults.jsonl.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from harness.latency import stamped_text
from harness.losses import id_key
from tests.support.figures import report
from tests.support.measures import percentile, rounded
from tests.support.resuming import Fleet, ResumingMember

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Load:
    rooms: int
    members_per_room: int
    senders_per_room: int
    rate: float  # messages per second per sender
    seconds: float


VARIANTS = {
    "quick": Load(rooms=3, members_per_room=12, senders_per_room=3, rate=8, seconds=4),
    "long": Load(rooms=10, members_per_room=30, senders_per_room=2, rate=5, seconds=30),
}


async def send_steadily(member: ResumingMember, sender: int, load: Load, offset: float) -> int:
    """Open loop: `load.rate` messages a second on a fixed schedule; returns how many."""
    loop = asyncio.get_running_loop()
    start = loop.time() + offset
    count = int(load.rate * load.seconds)
    for seq in range(count):
        await asyncio.sleep(max(0.0, start + seq / load.rate - loop.time()))
        await member.send(stamped_text(sender, seq))
    return count


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param("quick"),
        pytest.param("long", marks=[pytest.mark.faults, pytest.mark.timeout(600)]),
    ],
)
async def test_fanout_across_three_relays_loses_nothing_and_keeps_room_order(
    variant: str, start_relays
) -> None:
    load = VARIANTS[variant]
    relays = start_relays(3)
    # Neighbours alternate relays, so every room spans all three.
    members = [
        ResumingMember(relays[i % 3].ws, f"fanout-{room}")
        for room in range(load.rooms)
        for i in range(load.members_per_room)
    ]
    async with Fleet(members) as fleet:
        join_s = await fleet.all_joined(timeout=60)
        senders = [m for ms in fleet.rooms().values() for m in ms[: load.senders_per_room]]
        started = time.monotonic()
        sent = await asyncio.gather(
            *(
                send_steadily(m, index, load, offset=index / (len(senders) * load.rate))
                for index, m in enumerate(senders)
            )
        )
        converged_s = await fleet.converged(timeout=30)
        elapsed = time.monotonic() - started
        losses = fleet.losses()
        latencies_ms = [ns / 1e6 for m in members for ns in m.latencies_ns]
        same_sequence = all(
            m.ids == sorted(fleet.acked_ids(room), key=id_key)
            for room, room_members in fleet.rooms().items()
            for m in room_members
        )
        disconnects = sum(len(m.sessions) - 1 for m in members)

    report(
        "1-fanout-baseline",
        variant=variant,
        **rounded(
            {
                "relays": 3,
                "rooms": load.rooms,
                "members": len(members),
                "messages_sent": sum(sent),
                "offered_msgs_per_s": len(senders) * load.rate,
                **losses,
                "every_member_same_ordered_sequence": same_sequence,
                "disconnects": disconnects,
                "all_joined_s": join_s,
                "run_s": elapsed,
                "latency_ms": {
                    "count": len(latencies_ms),
                    "p50": percentile(latencies_ms, 50),
                    "p99": percentile(latencies_ms, 99),
                    "max": max(latencies_ms, default=None),
                },
            }
        ),
    )
    assert converged_s is not None, losses
    assert losses["lost"] == 0
    assert losses["duplicated"] == 0
    assert losses["out_of_order"] == 0
    assert losses["foreign"] == 0
    assert losses["expected"] == sum(sent) * load.members_per_room
    assert same_sequence, "a member saw its room's messages in another order than stored"
    assert disconnects == 0
