"""Case 11: a rolling deploy behind the balancer, in ECS's order (tests/support/deploy.py).

Three relays on one redis-server behind HAProxy standing in for the ALB; members connect
through it, keep its sticky cookie, and one sender per room sends steadily. The three relays
are replaced one by one: a new relay starts and enters rotation, then the old one is
deregistered (no new connections, open ones kept, `draining` in the ELB API stand-in), the
deregistration delay runs (or ends early when nothing is left open), the balancer cuts what
is still open, and only then the relay gets SIGTERM.

Two mechanisms, the same deploy:

- `deregistration` (this relay): the relay watches its target's state, drains at
  `draining`: 1012 closes spread over DRAIN_SECONDS while the balancer still carries them.
- `sigterm` (the baseline, before issue 11): the relay drains on SIGTERM only, which on
  ECS comes after the balancer has cut every socket.

A third run uses the stacks' own `maximumPercent` 200: every replacement starts first, then
the old relays are deregistered together, so no member lands on a relay still to be replaced.

What must hold with the relay's mechanism: nothing acknowledged lost, duplicated or
reordered, every member's sequence gap-free, no member cut by the balancer (every move is a
1012), and the peak reconnect rate under 2 x (members of the drained relay) / DRAIN_SECONDS.
The baseline's figures are printed beside it (and its cuts are asserted: it is the problem).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from itertools import pairwise

import orjson
import pytest

from harness.balancer import HAProxy
from harness.ecs import EcsStandIn
from harness.ports import free_port
from harness.relay import RelayProcess
from tests.faults.conftest import FAULT_RELAY_ENV
from tests.support.deploy import EcsService
from tests.support.figures import report
from tests.support.measures import percentile, rounded
from tests.support.resuming import Fleet, ResumingMember, Session, send_until

pytestmark = pytest.mark.anyio

OLD = ("r1", "r2", "r3")
NEW = ("r4", "r5", "r6")


@dataclass(frozen=True)
class Load:
    members: int
    rooms: int
    rate: float  # messages per second, one sender per room
    drain_seconds: float
    poll_seconds: float
    deregistration_delay: float
    stop_timeout: float
    after_s: float  # traffic after the last replacement


# The timings of the acceptance run are the stacks' defaults (stacks/config.py,
# RelaySettings and LoadBalancerSettings): DRAIN_SECONDS 20, DRAIN_POLL_SECONDS 5,
# deregistration delay 30 s, stopTimeout 40 s.
VARIANTS = {
    "quick": Load(
        members=60,
        rooms=3,
        rate=2,
        drain_seconds=3,
        poll_seconds=0.2,
        deregistration_delay=5,
        stop_timeout=10,
        after_s=1,
    ),
    "acceptance": Load(
        members=1000,
        rooms=10,
        rate=2,
        drain_seconds=20,
        poll_seconds=5,
        deregistration_delay=30,
        stop_timeout=40,
        after_s=3,
    ),
}


def peak_per_second(times: list[float]) -> int:
    """The most events in any one-second window."""
    times = sorted(times)
    peak, low = 0, 0
    for high, t in enumerate(times):
        while times[low] <= t - 1.0:
            low += 1
        peak = max(peak, high - low + 1)
    return peak


def relay_close_peaks(relays: dict[str, RelayProcess]) -> dict[str, int]:
    """Per relay, the most 1012 closes it sent in one second of its drain (its own log)."""
    peaks = {}
    for name, relay in relays.items():
        lines = [
            orjson.loads(line) for line in relay.output().splitlines() if "drain progress" in line
        ]
        if lines:
            peaks[name] = max(int(line["closes"]) for line in lines)
    return peaks


async def watch_loop_lag(lags: list[float], stop: asyncio.Event) -> None:
    """How late this process's own event loop runs (the clients' view is only as good)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.1)
        lags.append(loop.time() - before - 0.1)


def deploy_figures(members: list[ResumingMember], load: Load) -> dict[str, object]:
    """Moves per member, who closed each move, reconnect rates per drained relay."""
    moves = [(prev, nxt) for m in members for prev, nxt in pairwise(m.sessions)]
    reconnects = Counter(len(m.sessions) - 1 for m in members)
    by_relay: dict[str, list[tuple[Session, Session]]] = defaultdict(list)
    for prev, nxt in moves:
        by_relay[prev.relay or "?"].append((prev, nxt))
    per_drain = {
        relay: {
            "members": len(pairs),
            # Reconnects completed (joined) and begun (dialled), in any one second.
            "peak_reconnects_per_s": peak_per_second([n.joined_at for _, n in pairs]),
            "peak_dials_per_s": peak_per_second([n.dialled_at or n.joined_at for _, n in pairs]),
            "bound": round(2 * len(pairs) / load.drain_seconds, 1),
        }
        for relay, pairs in sorted(by_relay.items())
    }
    return {
        "moves": len(moves),
        "move_close_codes": dict(Counter(prev.close_code for prev, _ in moves)),
        "members_cut_by_balancer": sum(
            any(s.close_code != 1012 for s in m.sessions[:-1]) for m in members
        ),
        "members_reconnected_more_than_once": sum(n for k, n in reconnects.items() if k > 1),
        "reconnects_per_member": dict(sorted(reconnects.items())),
        "peak_reconnects_per_s": peak_per_second([n.joined_at for _, n in moves]),
        "peak_dials_per_s": peak_per_second([n.dialled_at or n.joined_at for _, n in moves]),
        "bound_for_members_per_relay": round(2 * (len(members) / 3) / load.drain_seconds, 1),
        "per_drain": per_drain,
    }


async def rolling_deploy(
    redis_url: str, load: Load, mechanism: str, *, all_at_once: bool = False
) -> dict[str, object]:
    with contextlib.ExitStack() as stack:
        ecs = stack.enter_context(EcsStandIn()) if mechanism == "deregistration" else None
        relays: dict[str, RelayProcess] = {}
        for name in OLD + NEW:
            env = {
                "REDIS_URL": redis_url,
                **FAULT_RELAY_ENV,
                "DRAIN_SECONDS": str(load.drain_seconds),
                "DRAIN_POLL_SECONDS": str(load.poll_seconds),
                # `drain progress` lines (info, one a second) say what the relay emitted.
                "LOG_LEVEL": "info",
                **(ecs.relay_env(name) if ecs is not None else {}),
            }
            relays[name] = relay = RelayProcess(env=env, port=free_port())
            stack.callback(relay.__exit__, None, None, None)
        for name in OLD:
            await asyncio.to_thread(relays[name].start)
        balancer = HAProxy([relays[n].port for n in OLD + NEW], standby=frozenset(NEW))
        stack.enter_context(balancer)
        service = EcsService(
            balancer,
            relays,
            deregistration_delay=load.deregistration_delay,
            stop_timeout=load.stop_timeout,
            ecs=ecs,
        )
        members = [
            ResumingMember(balancer.ws, f"deploy-{i % load.rooms}") for i in range(load.members)
        ]
        async with Fleet(members, ramp_up=min(10.0, load.members / 100)) as fleet:
            join_s = await fleet.all_joined(timeout=180)
            per_relay = Counter(m.relay for m in members)
            stop_sending = asyncio.Event()
            senders = [ms[0] for ms in fleet.rooms().values()]
            sending = [
                asyncio.create_task(send_until(m, i, load.rate, stop_sending))
                for i, m in enumerate(senders)
            ]
            lags: list[float] = []
            lagging = asyncio.create_task(watch_loop_lag(lags, stop_sending))
            started = time.monotonic()
            try:
                await asyncio.sleep(1)
                if all_at_once:
                    await service.replace_all(OLD, NEW)
                else:
                    for old, new in zip(OLD, NEW, strict=True):
                        await service.replace(old, new)
                await asyncio.sleep(load.after_s)
            finally:
                stop_sending.set()
                await asyncio.wait_for(asyncio.gather(*sending, lagging), 30)
            deploy_s = time.monotonic() - started
            converged_s = await fleet.converged(timeout=90)
            losses = fleet.losses()
            figures = deploy_figures(members, load)
            gap_free = sum(not m.missing(fleet.acked_ids(m.room)) for m in members)
        close_peaks = relay_close_peaks(relays)
        for relay, drain in figures["per_drain"].items():  # type: ignore[union-attr]
            drain["relay_peak_closes_per_s"] = close_peaks.get(relay)
    return {
        "mechanism": mechanism,
        "deploy": "all at once" if all_at_once else "one by one",
        "members": load.members,
        "rooms": load.rooms,
        "members_per_relay_before": dict(sorted(per_relay.items(), key=str)),
        "drain_seconds": load.drain_seconds,
        "deregistration_delay_s": load.deregistration_delay,
        "deploy_s": deploy_s,
        "stops": [asdict(s) for s in service.stops],
        "messages_acked": sum(len(m.acked) for m in senders),
        "members_gap_free": gap_free,
        "converged_s": converged_s,
        **losses,
        **figures,
        "all_joined_s": join_s,
        "client_loop_lag_s": {"p99": percentile(lags, 99), "max": max(lags, default=None)},
    }


def assert_nothing_lost(result: dict[str, object], members: int) -> None:
    assert result["converged_s"] is not None, result
    assert result["lost"] == 0
    assert result["duplicated"] == 0
    assert result["out_of_order"] == 0
    assert result["history_incomplete"] == result["resyncs"] == 0
    assert result["identity_changes"] == 0
    assert result["members_gap_free"] == members


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param("quick"),
        pytest.param("acceptance", marks=[pytest.mark.faults, pytest.mark.timeout(1800)]),
    ],
)
async def test_rolling_deploy_moves_every_member_with_1012_before_the_cut(
    variant: str, redis_url: str
) -> None:
    load = VARIANTS[variant]
    result = await rolling_deploy(redis_url, load, "deregistration")
    report("11-rolling-deploy", variant=variant, **rounded(result))
    assert_nothing_lost(result, load.members)
    assert result["members_cut_by_balancer"] == 0, result["move_close_codes"]
    assert all(stop["cut_by_balancer"] == 0 for stop in result["stops"])  # type: ignore[index]
    assert set(result["move_close_codes"]) == {1012}  # type: ignore[arg-type]
    for relay, drain in result["per_drain"].items():  # type: ignore[union-attr]
        # What the relay sent, from its own log: the ramp it promises. What the clients saw
        # is printed beside it; on a shared host their one process lags (client_loop_lag_s).
        assert drain["relay_peak_closes_per_s"] < drain["bound"], (relay, drain)
    # The relay closed everything before the delay ran out, so ELB finished early.
    assert all(
        stop["deregistration_s"] < load.deregistration_delay  # type: ignore[index]
        for stop in result["stops"]  # type: ignore[union-attr]
    )


@pytest.mark.faults
@pytest.mark.timeout(1800)
async def test_rolling_deploy_baseline_sigterm_after_the_cut(redis_url: str) -> None:
    """Today's mechanism on ECS, for the side-by-side table: the balancer cuts every socket."""
    load = VARIANTS["acceptance"]
    result = await rolling_deploy(redis_url, load, "sigterm")
    report("11-rolling-deploy", variant="acceptance-baseline", **rounded(result))
    assert_nothing_lost(result, load.members)  # resume still works; the storm is the cost
    assert result["members_cut_by_balancer"] > 0


@pytest.mark.faults
@pytest.mark.timeout(1800)
async def test_deploy_at_maximum_percent_200_moves_every_member_once(redis_url: str) -> None:
    """The stacks' own setting: all replacements start, then the old tasks stop together."""
    load = VARIANTS["acceptance"]
    result = await rolling_deploy(redis_url, load, "deregistration", all_at_once=True)
    report("11-rolling-deploy", variant="acceptance-all-at-once", **rounded(result))
    assert_nothing_lost(result, load.members)
    assert result["members_cut_by_balancer"] == 0
    assert result["members_reconnected_more_than_once"] == 0  # nobody lands on an old task
    for relay, drain in result["per_drain"].items():  # type: ignore[union-attr]
        assert drain["relay_peak_closes_per_s"] < drain["bound"], (relay, drain)
