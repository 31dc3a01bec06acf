"""Case 7: reconnect storm: every member of a relay that dies reconnects at once.

Two relays on one redis-server behind HAProxy. Every member holds a sticky cookie naming the
first relay (as if it had been the only one when they arrived), so all of them are on it. That
relay is killed with SIGKILL: no drain, no 1012, every socket dies in the same instant, and
every member comes back at once (full jitter over the web client's first 0.5 s) with its stale
cookie; the balancer redispatches them all to the survivor. What must hold:

- every member is back, joined and resumed as the same member, within STORM_BOUND_S
  (generous on a shared 2-core machine; the measured time is printed);
- the surviving relay does not crash: it stays up and ready, holds every member, logs no
  traceback, and still delivers a message to every member of every room afterwards.
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections import Counter

import orjson
import pytest

from harness.balancer import STICKY_COOKIE
from harness.latency import stamped_text
from harness.polling import wait_for
from loadtest.worker import raise_open_file_limit
from tests.support.figures import report
from tests.support.measures import percentile, rounded, rss_mib
from tests.support.resuming import Fleet, ResumingMember

pytestmark = pytest.mark.anyio

STORM_BOUND_S = 30.0
MEMBERS_PER_ROOM = 20


def readiness(relay) -> dict:
    with urllib.request.urlopen(f"{relay.http}/readyz", timeout=5) as response:
        return orjson.loads(response.read())


HEAVY = [pytest.mark.faults, pytest.mark.timeout(600)]


@pytest.mark.parametrize(
    ("members_count", "jitter"),
    [
        pytest.param(200, True, id="quick-200"),
        pytest.param(1000, True, id="storm-1000", marks=HEAVY),
        # Clients that come back the instant the socket drops: the worst case.
        pytest.param(1000, False, id="storm-1000-no-jitter", marks=HEAVY),
    ],
)
async def test_reconnect_storm_all_back_and_no_relay_crashes(
    members_count: int, jitter: bool, start_relays, start_balancer
) -> None:
    raise_open_file_limit()  # the relays inherit it: each member is a socket on each side
    doomed, survivor = start_relays(2)
    balancer = start_balancer([doomed, survivor])
    pinned = {STICKY_COOKIE: balancer.names[0]}
    members = [
        ResumingMember(
            balancer.ws,
            f"storm-{i // MEMBERS_PER_ROOM}",
            cookies=pinned,
            jitter_first_reconnect=jitter,
        )
        for i in range(members_count)
    ]
    async with Fleet(members, ramp_up=members_count / 200) as fleet:
        join_s = await fleet.all_joined(timeout=120)
        assert readiness(doomed)["connections"] == members_count  # all pinned to the first
        rss_before = rss_mib(survivor)

        killed = time.monotonic()
        doomed.kill()

        def all_back() -> bool:
            return all(m.joined and len(m.sessions) >= 2 for m in members)

        with contextlib.suppress(TimeoutError):  # the figures say how many; the asserts fail
            await wait_for(all_back, timeout=120, what="every member back", interval=0.1)
        back = [m.sessions[1].joined_at - killed for m in members if len(m.sessions) >= 2]
        survivor_alive = survivor.process.poll() is None
        survivor_ready = readiness(survivor) if survivor_alive else {}
        rss_after = rss_mib(survivor) if survivor_alive else None

        # Afterwards every room still works: one message each, everyone receives it.
        for room_members in fleet.rooms().values():
            await room_members[0].send(stamped_text(0, 0))
        converged_s = await fleet.converged(timeout=30)
        losses = fleet.losses()
        connect_errors = sum((m.connect_errors for m in members), Counter())
        close_codes = Counter(m.sessions[0].close_code for m in members)

    all_back_s = max(back) if len(back) == members_count else None
    report(
        "7-reconnect-storm",
        variant=f"{members_count} members, " + ("full jitter" if jitter else "no jitter"),
        **rounded(
            {
                "members": members_count,
                "rooms": len(fleet.rooms()),
                "members_back": len(back),
                "all_back_after_s": all_back_s,
                "back_after_s": {
                    "p50": percentile(back, 50),
                    "p90": percentile(back, 90),
                    "p99": percentile(back, 99),
                },
                "first_close_codes": dict(close_codes),
                "connect_errors": dict(connect_errors),
                "failed_attempts_per_member_max": max(
                    sum(m.connect_errors.values()) for m in members
                ),
                "identity_changes": losses["identity_changes"],
                "survivor_alive": survivor_alive,
                "survivor_connections": survivor_ready.get("connections"),
                "survivor_rss_mib": {"before": rss_before, "after": rss_after},
                "delivery_after_storm_s": converged_s,
                "lost_after_storm": losses["lost"],
                "initial_join_s": join_s,
                "bound_s": STORM_BOUND_S,
            }
        ),
    )
    assert close_codes == {1006: members_count}  # the socket died; nothing was sent
    assert len(back) == members_count
    assert all_back_s < STORM_BOUND_S
    assert survivor_alive
    assert survivor_ready["status"] == "ready"
    assert survivor_ready["connections"] == members_count
    assert "Traceback" not in survivor.output()
    assert losses["identity_changes"] == 0
    assert converged_s is not None, losses
    assert losses["lost"] == losses["duplicated"] == 0
