"""Case 5: relay SIGTERM under load, behind HAProxy standing in for the ALB.

Three relays on one redis-server behind HAProxy with cookie stickiness (insert mode) and
`option redispatch`; members connect through it, keep its cookie and send and receive steadily.
One relay gets SIGTERM while traffic flows. What must hold:

- every member of that relay is closed with 1012, comes back through the balancer on another
  relay (with the same sticky cookie, which now names a relay that is gone) and resumes with
  token + since as the same member;
- members of the other relays are not disconnected;
- across the whole run nothing acknowledged is lost, duplicated or reordered, and no loss
  signal fires (history always covers the gap);
- the relay process exits within DRAIN_SECONDS of the signal.

Figures: members moved, time until all were back, per-member downtime, exit time.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from harness.polling import wait_for
from tests.support.figures import report
from tests.support.measures import percentile, rounded
from tests.support.resuming import Fleet, ResumingMember, send_until

pytestmark = pytest.mark.anyio

DOOMED = "r2"  # HAProxy names the relays r1, r2, r3 in order


@dataclass(frozen=True)
class Load:
    members: int
    rooms: int
    senders_per_room: int
    rate: float  # messages per second per sender
    drain_seconds: int
    before_s: float  # traffic before the SIGTERM
    after_s: float  # traffic after every moved member is back


VARIANTS = {
    "quick": Load(
        members=60, rooms=3, senders_per_room=2, rate=5, drain_seconds=6, before_s=2, after_s=2
    ),
    # 300 members per relay: the drain closes them in two batches (service/drain.py).
    "long": Load(
        members=900, rooms=6, senders_per_room=2, rate=1, drain_seconds=20, before_s=5, after_s=5
    ),
}


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param("quick"),
        pytest.param("long", marks=[pytest.mark.faults, pytest.mark.timeout(900)]),
    ],
)
async def test_sigterm_behind_balancer_moves_every_member_without_loss(
    variant: str, start_relays, start_balancer
) -> None:
    load = VARIANTS[variant]
    relays = start_relays(3, DRAIN_SECONDS=str(load.drain_seconds))
    balancer = start_balancer(relays)
    doomed = relays[balancer.names.index(DOOMED)]
    members = [ResumingMember(balancer.ws, f"drain-{i % load.rooms}") for i in range(load.members)]

    async with Fleet(members) as fleet:
        join_s = await fleet.all_joined(timeout=120)
        per_relay = Counter(m.relay for m in members)
        assert set(per_relay) == set(balancer.names), per_relay  # cookies name every relay

        stop_sending = asyncio.Event()
        senders = [m for ms in fleet.rooms().values() for m in ms[: load.senders_per_room]]
        sending = [
            asyncio.create_task(send_until(m, i, load.rate, stop_sending))
            for i, m in enumerate(senders)
        ]
        try:
            await asyncio.sleep(load.before_s)
            victims = [m for m in members if m.relay == DOOMED]
            bystanders = [m for m in members if m.relay != DOOMED]
            signalled = time.monotonic()
            doomed.process.send_signal(signal.SIGTERM)
            exit_code = await asyncio.to_thread(doomed.process.wait, load.drain_seconds + 30)
            exit_s = time.monotonic() - signalled

            def all_back() -> bool:
                return all(m.joined and len(m.sessions) >= 2 for m in victims)

            await wait_for(all_back, timeout=60, what="every member of the drained relay back")
            back_s = max(m.sessions[1].joined_at for m in victims) - signalled
            await asyncio.sleep(load.after_s)
        finally:
            stop_sending.set()
            await asyncio.wait_for(asyncio.gather(*sending), 30)
        converged_s = await fleet.converged(timeout=60)
        losses = fleet.losses()
        first_closes = Counter(m.sessions[0].close_code for m in victims)
        moved_to = Counter(m.sessions[1].relay for m in victims)
        downtime_s = [m.sessions[1].joined_at - m.sessions[0].closed_at for m in victims]
        closed_after_s = [m.sessions[0].closed_at - signalled for m in victims]
        bystander_disconnects = sum(len(m.sessions) - 1 for m in bystanders)
        connect_errors = sum((m.connect_errors for m in members), Counter())
        balancer_view = balancer.server_states()

    report(
        "5-sigterm-behind-balancer",
        variant=variant,
        **rounded(
            {
                "relays": 3,
                "members": len(members),
                "members_per_relay": dict(sorted(per_relay.items())),
                "members_moved": sum(len(m.sessions) >= 2 for m in victims),
                "members_on_drained_relay": len(victims),
                "first_close_codes": dict(first_closes),
                "moved_to": dict(sorted(moved_to.items(), key=str)),
                "bystander_disconnects": bystander_disconnects,
                "closes_spread_s": max(closed_after_s),
                "all_back_after_s": back_s,
                "downtime_per_member_s": {
                    "p50": percentile(downtime_s, 50),
                    "p99": percentile(downtime_s, 99),
                    "max": max(downtime_s),
                },
                "relay_exit_s": exit_s,
                "relay_exit_code": exit_code,
                "drain_seconds": load.drain_seconds,
                "messages_sent": sum(len(m.acked) for m in senders),
                "converged_s": converged_s,
                **losses,
                "connect_errors": dict(connect_errors),
                "balancer_view_after": balancer_view,
                "all_joined_s": join_s,
            }
        ),
    )
    assert first_closes == {1012: len(victims)}, first_closes
    assert all(m.sessions[1].relay not in (DOOMED, None) for m in victims), moved_to
    assert bystander_disconnects == 0
    assert exit_code in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean exit
    assert exit_s < load.drain_seconds
    assert converged_s is not None, losses
    assert losses["lost"] == 0
    assert losses["duplicated"] == 0
    assert losses["out_of_order"] == 0
    assert losses["history_incomplete"] == losses["resyncs"] == 0
    assert losses["identity_changes"] == 0
    assert balancer_view[DOOMED] != "UP"
