"""Redis goes away, stalls, or silently stops talking: nothing acknowledged is lost
without a signal. Real redis-server and relay processes; figures are printed."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import pytest

from harness.cluster import LocalCluster
from harness.polling import wait_until
from harness.proxy import DeafeningProxy
from harness.redis_server import RedisServer
from harness.relay import RelayProcess
from tests.support.figures import report
from tests.support.traffic import Listener, Sender, acked_in_order, check_delivery

pytestmark = pytest.mark.anyio

FAST = {"RATE_LIMIT": "1000", "RATE_BURST": "1000", "PRESENCE_TTL": "8"}


def readyz(relay: RelayProcess) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{relay.http}/readyz", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


async def settle(listeners: list[Listener], expected: int, timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and any(  # noqa: ASYNC110 - polling counters
        len(x.ids) < expected and not x.resyncs for x in listeners
    ):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # anything late or duplicated shows up now


async def test_redis_killed_and_restarted_mid_stream() -> None:
    """SIGKILL with no persistence: Redis comes back empty. Every acknowledged message
    reaches every connected client, or the client is told about the gap (resync)."""
    with RedisServer() as redis:
        env = {"REDIS_URL": redis.url, **FAST}
        with RelayProcess(env=env) as one, RelayProcess(env=env) as two:
            listeners = [await Listener(r.ws, "outage").start() for r in (one, two, one, two)]
            senders = [Sender(r.ws, "outage", f"s{i}") for i, r in enumerate((one, two))]
            traffic = [asyncio.create_task(s.send(60, interval=0.05)) for s in senders]
            await asyncio.sleep(1.0)
            killed = time.monotonic()
            redis.signal(signal.SIGKILL)
            redis.process.wait(5)
            await asyncio.sleep(1.0)
            redis.start()
            await asyncio.to_thread(
                wait_until, lambda: readyz(one) == 200 and readyz(two) == 200, 20, 0.1, "ready"
            )
            recovered = time.monotonic() - killed
            await asyncio.wait_for(asyncio.gather(*traffic), 90)
            acked = acked_in_order(senders)
            await settle(listeners, len(acked))
            results = [check_delivery(x, acked) for x in listeners]
            for listener in listeners:
                await listener.stop()
    for figures in results:
        # Never silent: a listener missing a message must have been told about a gap.
        assert figures["missing"] == 0 or figures["gaps_signalled"] > 0, figures
        assert figures["duplicates"] == 0 and figures["in_order"] == 1, figures
    report(
        "redis-sigkill-restart",
        recovered_s=round(recovered, 2),
        acked=len(acked),
        retries=sum(s.retries for s in senders),
        missing_per_listener=[f["missing"] for f in results],
        gaps_signalled=[f["gaps_signalled"] for f in results],
    )


async def test_redis_back_at_once_in_a_quiet_room() -> None:
    """Redis is killed and answers again before the subscriber's reconnect delay is over,
    with nobody talking: the backfill then meets the command pool's stale connections.
    That once killed the subscriber task, leaving the relay deaf and unready for good."""
    with RedisServer() as redis:
        env = {"REDIS_URL": redis.url, **FAST}
        with RelayProcess(env=env) as one, RelayProcess(env=env) as two:
            listener = await Listener(two.ws, "quiet").start()
            await asyncio.sleep(1.5)  # health pings spread over the pool's connections
            killed = time.monotonic()
            redis.stop()
            redis.start()
            await asyncio.to_thread(
                wait_until, lambda: readyz(one) == 200 and readyz(two) == 200, 15, 0.1, "ready"
            )
            recovered = time.monotonic() - killed
            sender = Sender(one.ws, "quiet", "s")
            await sender.send(5, interval=0.05)
            acked = list(sender.acked.values())
            await settle([listener], len(acked))
            figures = check_delivery(listener, acked)
            await listener.stop()
    assert figures["missing"] == 0 and figures["duplicates"] == 0, figures
    report("redis-back-at-once", recovered_s=round(recovered, 2), acked=len(acked))


async def test_subscriber_dropped_for_output_buffer_overflow_loses_nothing() -> None:
    """A relay stops reading (SIGSTOP) until Redis kills its subscriber for exceeding
    the pub/sub output-buffer limit. On resume it resubscribes and backfills: 0 lost."""
    with RedisServer() as redis:
        admin = redis.client()
        admin.config_set("client-output-buffer-limit", "pubsub 64kb 32kb 1")
        # Stored history must cover the whole stall so the backfill can be complete.
        env = {"REDIS_URL": redis.url, "HISTORY_MAX_LEN": "20000", **FAST}
        with RelayProcess(env=env) as stalled, RelayProcess(env=env) as healthy:
            victim = await Listener(stalled.ws, "overflow").start()
            witness = await Listener(healthy.ws, "overflow").start()
            sender = Sender(healthy.ws, "overflow", "s", padding=1900)
            stalled.process.send_signal(signal.SIGSTOP)
            try:
                # ~16 MB: more than the loopback socket buffers hold, then past 64 KiB.
                await sender.send(8000, interval=0.0, deadline=120)
                await asyncio.sleep(1.5)  # past the soft limit's 1 s
            finally:
                stalled.process.send_signal(signal.SIGCONT)
            acked = list(sender.acked.values())
            await settle([victim, witness], len(acked), timeout=60)
            results = [check_delivery(x, acked) for x in (victim, witness)]
            stalled_log = stalled.output()
            for listener in (victim, witness):
                await listener.stop()
            admin.close()
    for figures in results:
        assert figures["missing"] == 0 and figures["duplicates"] == 0, figures
        assert figures["in_order"] == 1, figures
    # Redis really did drop the stalled relay's subscriber (seen by the read failing or by
    # the probe finding no receiver, whichever comes first), and it came back.
    assert (
        "subscriber lost Redis" in stalled_log
        or "is deaf (not subscribed on the server)" in stalled_log
    )
    assert "backfilling" in stalled_log
    report(
        "subscriber-output-buffer-overflow",
        acked=len(acked),
        victim_missing=results[0]["missing"],
        witness_missing=results[1]["missing"],
    )


@pytest.mark.parametrize("store", ["standalone", "cluster"])
async def test_redis_paused_loses_nothing(store: str) -> None:
    """Redis frozen (SIGSTOP) for 3 s under traffic: sends wait or retry, nothing is lost.
    In a cluster the frozen node is the primary of the room's shard."""
    with contextlib.ExitStack() as stack:
        if store == "standalone":
            redis: RedisServer = stack.enter_context(RedisServer())
            env = {"REDIS_URL": redis.url, **FAST}
        else:
            cluster = stack.enter_context(LocalCluster(primaries=3))
            redis = cluster.node_for("chat:{pause}")
            env = {"REDIS_URL": cluster.url, "REDIS_CLUSTER": "true", **FAST}
        with RelayProcess(env=env) as one, RelayProcess(env=env) as two:
            listeners = [await Listener(r.ws, "pause").start() for r in (one, two)]
            sender = Sender(one.ws, "pause", "s")
            traffic = asyncio.create_task(sender.send(80, interval=0.05))
            await asyncio.sleep(1.0)
            redis.signal(signal.SIGSTOP)
            await asyncio.sleep(3.0)
            redis.signal(signal.SIGCONT)
            await asyncio.wait_for(traffic, 60)
            acked = list(sender.acked.values())
            await settle(listeners, len(acked))
            results = [check_delivery(x, acked) for x in listeners]
            for listener in listeners:
                await listener.stop()
    for figures in results:
        assert figures["missing"] == 0 and figures["duplicates"] == 0, figures
    report(f"redis-paused-3s-{store}", acked=len(acked), retries=sender.retries)


async def test_deaf_subscriber_is_detected_and_backfilled() -> None:
    """The subscriber's connection stays open but hears nothing (half-open TCP). The probe
    notices within seconds, /readyz turns 503, the subscriber reconnects and backfills."""
    with (
        RedisServer() as redis,
        DeafeningProxy(redis.port) as proxy,
        RelayProcess(env={"REDIS_URL": proxy.url, **FAST}) as deaf,
        RelayProcess(env={"REDIS_URL": redis.url, **FAST}) as other,
    ):
        victim = await Listener(deaf.ws, "deaf").start()
        sender = Sender(other.ws, "deaf", "s")
        await sender.send(5, interval=0.0)
        deafened = proxy.blackhole()
        started = time.monotonic()
        await sender.send(20, interval=0.05)
        await asyncio.to_thread(wait_until, lambda: readyz(deaf) == 503, 15, 0.05, "503")
        noticed = time.monotonic() - started
        await asyncio.to_thread(wait_until, lambda: readyz(deaf) == 200, 20, 0.1, "ready")
        healed = time.monotonic() - started
        acked = list(sender.acked.values())
        await settle([victim], len(acked))
        figures = check_delivery(victim, acked)
        await victim.stop()
        log = deaf.output()
    assert "is deaf (probes not arriving)" in log
    assert figures["missing"] == 0 and figures["duplicates"] == 0, figures
    assert figures["in_order"] == 1
    report(
        "deaf-subscriber",
        deafened_connections=deafened,
        noticed_s=round(noticed, 2),
        healed_s=round(healed, 2),
        acked=len(acked),
        missing=figures["missing"],
    )
