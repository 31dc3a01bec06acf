"""Several relay processes over one Redis: one room, wherever members connect.

The tests that do not look inside Redis run twice: over a standalone redis-server and over
a 3-primary Redis Cluster with the relays in cluster mode (REDIS_CLUSTER=true)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import pytest

from harness.client import ChatClient
from harness.redis_server import RedisServer
from harness.relay import RelayProcess

pytestmark = pytest.mark.anyio

FAST_PRESENCE = {"PRESENCE_TTL": "8"}  # ghosts go within ~10 s instead of ~25 s


@pytest.fixture
def two_relays(redis_url: str) -> Iterator[tuple[RelayProcess, RelayProcess]]:
    """Two relays over the standalone redis-server (for tests that inspect it)."""
    env = {"REDIS_URL": redis_url, **FAST_PRESENCE}
    with RelayProcess(env=env) as first, RelayProcess(env=env) as second:
        yield first, second


@pytest.fixture(params=["standalone", "cluster"])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The relay settings for a clean standalone Redis, then for a clean Redis Cluster."""
    if request.param == "standalone":
        return {"REDIS_URL": request.getfixturevalue("redis_url")}
    return {"REDIS_URL": request.getfixturevalue("cluster_url"), "REDIS_CLUSTER": "true"}


@pytest.fixture
def relays(store_env: dict[str, str]) -> Iterator[tuple[RelayProcess, RelayProcess]]:
    """Two relays over either kind of Redis."""
    env = {**store_env, **FAST_PRESENCE}
    with RelayProcess(env=env) as first, RelayProcess(env=env) as second:
        yield first, second


async def test_messages_members_and_history_cross_processes(relays) -> None:
    one, two = relays
    async with await ChatClient.connect(one.ws) as alice, await ChatClient.connect(two.ws) as bob:
        a = await alice.join("shared")
        b = await bob.join("shared")
        assert set(b.members["members"]) == {a.member["id"], b.member["id"]}
        assert (await alice.recv_type("member_add"))["member"] == b.member

        ack = await alice.say("from one")
        ack2 = await bob.say("from two")
        for client in (alice, bob):
            got = [(await client.recv_type("messages"))["message"]["id"] for _ in range(2)]
            assert got == [ack["id"], ack2["id"]]

        async with await ChatClient.connect(two.ws) as carol:
            c = await carol.join("shared")
            assert [m["text"] for m in c.history["messages"]] == ["from one", "from two"]
            assert set(c.members["members"]) == {a.member["id"], b.member["id"], c.member["id"]}

        await bob.close()
        deleted = {(await alice.recv_type("member_delete"))["id"] for _ in range(2)}
        assert deleted == {c.member["id"], b.member["id"]}


async def test_one_subscriber_connection_for_all_rooms(two_relays, redis_server) -> None:
    one, _ = two_relays
    clients = [await ChatClient.connect(one.ws) for _ in range(6)]
    try:
        for index, client in enumerate(clients):
            await client.join(f"room-{index}")
        redis = redis_server.client()
        subscribed = [int(c["sub"]) for c in redis.client_list() if int(c.get("sub", 0)) > 0]
        channels = redis.pubsub_channels("chat:{*")
        redis.close()
        assert sorted(channels) == sorted(f"chat:{{room-{i}}}" for i in range(6))
        # One connection per relay for all rooms: six rooms and the probe channel on the
        # first, the probe channel alone on the second; and each relay's moderation
        # listener (chat:moderation, service/moderation/redis.py), whatever the rooms.
        assert sorted(subscribed) == [1, 1, 1, 7]
        redis = redis_server.client()
        assert redis.pubsub_numsub("chat:moderation") == [("chat:moderation", 2)]
        redis.close()
    finally:
        for client in clients:
            await client.close()


async def test_unused_rooms_are_unsubscribed(two_relays, redis_server) -> None:
    one, _ = two_relays
    async with await ChatClient.connect(one.ws) as client:
        await client.join("brief")
    redis = redis_server.client()
    deadline = time.monotonic() + 5
    while redis.pubsub_channels("chat:{brief}") and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert redis.pubsub_channels("chat:{brief}") == []
    redis.close()


async def test_killed_relay_leaves_no_ghosts(relays) -> None:
    survivor, doomed = relays
    async with await ChatClient.connect(survivor.ws) as watcher:
        await watcher.join("ghosts")
        ghosts = []
        for _ in range(3):
            client = await ChatClient.connect(doomed.ws)
            ghosts.append((await client.join("ghosts")).member["id"])
        # The same member also connected through the survivor must stay.
        stayer = await ChatClient.connect(doomed.ws)
        stay = await stayer.join("ghosts")
        stayer_elsewhere = await ChatClient.connect(survivor.ws)
        await stayer_elsewhere.join("ghosts", token=stay.token)
        for _ in range(4):
            await watcher.recv_type("member_add")

        killed_at = time.monotonic()
        doomed.kill()
        deleted: list[str] = []
        while len(deleted) < 3:
            deleted.append((await watcher.recv_type("member_delete", timeout=30))["id"])
        elapsed = time.monotonic() - killed_at
        assert sorted(deleted) == sorted(ghosts)
        assert elapsed < 30
        # Exactly one member_delete each, and none for the member still connected.
        with pytest.raises(TimeoutError):
            await watcher.recv_type("member_delete", timeout=3)
        async with await ChatClient.connect(survivor.ws) as late:
            members = (await late.join("ghosts")).members["members"]
            assert stay.member["id"] in members
            assert not set(ghosts) & set(members)
        await stayer_elsewhere.close()


async def test_token_survives_relay_restart(store_env: dict[str, str]) -> None:
    env = store_env
    with RelayProcess(env=env) as relay:
        async with await ChatClient.connect(relay.ws) as client:
            joined = await client.join("restart")
            await client.say("before restart")
        port = relay.port
    with RelayProcess(env=env, port=port) as relay:
        async with await ChatClient.connect(relay.ws) as client:
            again = await client.join("restart", token=joined.token)
            assert again.member == joined.member
            assert [m["text"] for m in again.history["messages"]] == ["before restart"]


async def test_malformed_publish_is_dropped_not_fatal(two_relays, redis_server) -> None:
    one, two = two_relays
    async with await ChatClient.connect(one.ws) as a, await ChatClient.connect(two.ws) as b:
        await a.join("fragile")
        await b.join("fragile")
        redis = redis_server.client()
        for garbage in ("{not json", '{"type":"messages"}', '["x"]', '{"type":"evil"}'):
            redis.publish("chat:{fragile}", garbage)
        redis.close()
        ack = await a.say("still alive")
        for client in (a, b):
            frame = await client.recv_type("messages")
            assert frame["message"]["id"] == ack["id"]


async def test_readyz_reports_redis_outage() -> None:
    with RedisServer() as server, RelayProcess(env={"REDIS_URL": server.url}) as relay:
        server.stop()
        from harness.polling import wait_until
        from tests.service.test_relay import http_get

        wait_until(lambda: http_get(f"{relay.http}/readyz")[0] == 503, 10, what="503")
        assert http_get(f"{relay.http}/healthz")[0] == 200
        server.start()
        wait_until(lambda: http_get(f"{relay.http}/readyz")[0] == 200, 15, what="ready again")


async def test_sigterm_drains_with_1012_and_removes_presence(relays) -> None:
    survivor, draining = relays
    async with await ChatClient.connect(survivor.ws) as watcher:
        await watcher.join("drain")
        clients = [await ChatClient.connect(draining.ws) for _ in range(20)]
        members = [(await c.join("drain")).member["id"] for c in clients]
        for _ in members:
            await watcher.recv_type("member_add")
        started = time.monotonic()
        draining.process.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(c.closed_with(timeout=20) for c in clients))
        assert codes == [1012] * 20
        exit_code = await asyncio.to_thread(draining.process.wait, 30)
        elapsed = time.monotonic() - started
        # uvicorn re-raises the captured SIGTERM after a clean shutdown.
        assert exit_code in (0, -signal.SIGTERM)
        assert "draining 20 connections" in draining.output()
        assert elapsed < 20  # DRAIN_SECONDS default; ECS stopTimeout is larger
        deleted = {(await watcher.recv_type("member_delete", timeout=5))["id"] for _ in members}
        assert deleted == set(members)
