"""Relays over a real local Redis Cluster: sharded Pub/Sub, one subscriber per shard,
and a primary killed mid-stream (issue 6)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from signal import SIGKILL

import pytest

from harness.client import ChatClient
from harness.cluster import LocalCluster
from harness.polling import wait_until
from harness.relay import RelayProcess
from tests.support.figures import report
from tests.support.traffic import Listener, Sender, acked_in_order, check_delivery

pytestmark = pytest.mark.anyio


def rooms_on_every_shard(cluster: LocalCluster) -> dict[int, str]:
    """One room name per primary (by the slot of its hash tag)."""
    found: dict[int, str] = {}
    for index in range(1000):
        room = f"shard-{index}"
        port = cluster.node_for(f"chat:{{{room}}}").port
        found.setdefault(port, room)
        if len(found) == len(cluster.primaries()):
            return found
    raise AssertionError("could not find a room for every shard")


@pytest.fixture
def cluster_relays(cluster_url: str) -> Iterator[tuple[RelayProcess, RelayProcess]]:
    env = {"REDIS_URL": cluster_url, "REDIS_CLUSTER": "true", "PRESENCE_TTL": "8"}
    with RelayProcess(env=env) as one, RelayProcess(env=env) as two:
        yield one, two


async def test_rooms_on_every_shard_fan_out_across_relays(cluster_relays, redis_cluster) -> None:
    one, two = cluster_relays
    rooms = rooms_on_every_shard(redis_cluster)
    for room in rooms.values():
        async with await ChatClient.connect(one.ws) as a, await ChatClient.connect(two.ws) as b:
            first = await a.join(room)
            second = await b.join(room)
            assert set(second.members["members"]) == {first.member["id"], second.member["id"]}
            ack = await a.say(f"hello {room}")
            assert (await b.recv_type("messages"))["message"]["id"] == ack["id"]
            async with await ChatClient.connect(two.ws) as late:
                history = (await late.join(room)).history["messages"]
                assert [m["text"] for m in history] == [f"hello {room}"]


async def test_one_sharded_subscriber_per_shard(cluster_relays, redis_cluster) -> None:
    one, _ = cluster_relays
    rooms = rooms_on_every_shard(redis_cluster)
    clients = []
    try:
        for room in rooms.values():
            for suffix in ("", "-b"):
                # A second room on the same shard shares the shard's connection.
                name = room if not suffix else next(
                    f"{room}x{i}" for i in range(1000)
                    if redis_cluster.node_for(f"chat:{{{room}x{i}}}").port
                    == redis_cluster.node_for(f"chat:{{{room}}}").port
                )  # fmt: skip
                client = await ChatClient.connect(one.ws)
                await client.join(name)
                clients.append(client)
        moderation_listeners = 0
        for node in redis_cluster.primaries():
            admin = node.client()
            sharded = [c for c in admin.client_list() if int(c.get("ssub", 0)) > 0]
            plain = [c for c in admin.client_list() if int(c.get("sub", 0)) > 0]
            admin.close()
            # Relay one: one connection on this shard holding its two rooms and its probe.
            # Relay two serves no room, so it holds no connection. Rooms use no classic
            # SUBSCRIBE; only each relay's moderation listener does (one channel each).
            assert [int(c["ssub"]) for c in sharded] == [3], sharded
            assert all(int(c["sub"]) == 1 for c in plain), plain
            moderation_listeners += len(plain)
        assert moderation_listeners == 2
    finally:
        for client in clients:
            await client.close()


FAST = {"RATE_LIMIT": "1000", "RATE_BURST": "1000", "PRESENCE_TTL": "8"}


@dataclass
class Disrupted:
    """What two senders' traffic through two relays looked like around a disruption."""

    acked: list[str]
    results: list[dict]  # per listener, from check_delivery
    retries: int
    done_after_s: float  # from the disruption to the last acknowledged send

    def assert_never_silent(self) -> None:
        for figures in self.results:
            assert figures["missing"] == 0 or figures["gaps_signalled"] > 0, figures
            assert figures["duplicates"] == 0 and figures["in_order"] == 1, figures

    def report(self, name: str) -> None:
        report(
            name,
            acked=len(self.acked),
            retries=self.retries,
            traffic_done_after_s=round(self.done_after_s, 2),
            missing_per_listener=[f["missing"] for f in self.results],
            gaps_signalled=[f["gaps_signalled"] for f in self.results],
        )


async def traffic_through(
    relays: tuple[RelayProcess, RelayProcess],
    room: str,
    disrupt: Callable[[], None],
    before_listeners_leave: Callable[[], None] = lambda: None,
) -> Disrupted:
    """2 senders x 60 messages at 20/s and 4 listeners over both relays; `disrupt` runs
    (in a thread) 1 s in; `before_listeners_leave` runs while the room is still served."""
    one, two = relays
    listeners = [await Listener(r.ws, room).start() for r in (one, two, one, two)]
    senders = [Sender(r.ws, room, f"s{i}") for i, r in enumerate((one, two))]
    traffic = [asyncio.create_task(s.send(60, interval=0.05)) for s in senders]
    await asyncio.sleep(1.0)
    disrupted = time.monotonic()
    await asyncio.to_thread(disrupt)
    await asyncio.wait_for(asyncio.gather(*traffic), 120)
    done_after = time.monotonic() - disrupted
    acked = acked_in_order(senders)
    await asyncio.to_thread(
        wait_until,
        lambda: all(len(x.ids) >= len(acked) or x.resyncs for x in listeners),
        20, 0.1, "listeners caught up",
    )  # fmt: skip
    results = [check_delivery(x, acked) for x in listeners]
    before_listeners_leave()
    for listener in listeners:
        await listener.stop()
    return Disrupted(acked, results, sum(s.retries for s in senders), done_after)


async def test_primary_killed_mid_stream_fails_over_without_silent_loss() -> None:
    with LocalCluster(primaries=3, replicas=1) as cluster:
        env = {"REDIS_URL": cluster.url, "REDIS_CLUSTER": "true", **FAST}
        with RelayProcess(env=env) as one, RelayProcess(env=env) as two:
            victim = cluster.node_for("chat:{failover}")
            run = await traffic_through((one, two), "failover", lambda: victim.signal(SIGKILL))
            promoted = cluster.node_for("chat:{failover}").port != victim.port
    assert promoted
    run.assert_never_silent()
    run.report("cluster-primary-failover")


async def test_slot_moved_mid_stream_resubscribes_without_silent_loss() -> None:
    """The room's slot migrates to another shard under traffic: Redis unsubscribes the
    relays' sharded subscriptions, they re-home the room and backfill it; writes during
    the migration may be refused (TRYAGAIN/ASK) and are retried with the same ref."""
    key = "chat:{moving}"
    with LocalCluster(primaries=3) as cluster:
        env = {"REDIS_URL": cluster.url, "REDIS_CLUSTER": "true", **FAST}
        with RelayProcess(env=env) as one, RelayProcess(env=env) as two:
            source = cluster.node_for(key)
            target = next(n for n in cluster.primaries() if n.port != source.port)
            seen: dict = {}

            def look() -> None:
                admin = target.client()
                seen["history"] = admin.xlen(f"{key}:history")
                # Both relays' subscriptions followed the room to its new shard.
                ((_, seen["listening"]),) = admin.pubsub_shardnumsub(key)
                admin.close()
                seen["owner"] = cluster.node_for(key).port
                seen["logs"] = one.output() + two.output()

            run = await traffic_through(
                (one, two), "moving", lambda: cluster.move_slot_of(key, target), look
            )
    assert seen["owner"] == target.port
    assert seen["listening"] == 2
    assert seen["logs"].count("re-homing rooms") >= 2
    assert seen["history"] >= len(run.acked)  # the stream moved with the slot and grew there
    run.assert_never_silent()
    run.report("cluster-slot-moved")


async def test_tls_cluster_with_an_auth_token() -> None:
    """As ElastiCache in cluster mode with in-transit encryption and an AUTH token: TLS
    only, a password, and the configuration endpoint as REDIS_URL. The shard subscribers
    must connect to the nodes with TLS and the token too."""
    token = "test-auth-token-0123456789"
    with LocalCluster(primaries=3, tls=True, password=token) as cluster:
        env = {"REDIS_URL": cluster.url, "REDIS_CLUSTER": "true", "REDIS_AUTH_TOKEN": token}
        with RelayProcess(env=env) as one, RelayProcess(env=env) as two:
            rooms = rooms_on_every_shard(cluster)
            for room in rooms.values():
                async with (
                    await ChatClient.connect(one.ws) as a,
                    await ChatClient.connect(two.ws) as b,
                ):
                    await a.join(room)
                    await b.join(room)
                    ack = await a.say(f"over TLS in {room}")
                    assert (await b.recv_type("messages"))["message"]["id"] == ack["id"]
            for node in cluster.primaries():
                admin = node.client()
                sharded = [c for c in admin.client_list() if int(c.get("ssub", 0)) > 0]
                admin.close()
                assert len(sharded) == 2  # one per relay on every shard, over TLS
