"""One suite, both backends: the memory and the Redis backend (real redis-server), each
as its three parts (Broker, Presence, IdentityStore)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

import orjson
import pytest

from service import protocol
from service.broker import (
    Backend,
    BrokerEvent,
    MemberJoined,
    MemberLeft,
    Publication,
    memory_backend,
)
from service.broker.redis import RedisBroker, RedisPresence, redis_backend
from service.broker.roster import Rosters
from service.config import load_settings
from service.members import Member

pytestmark = pytest.mark.anyio

ALICE = Member(
    id="a1a1a1a1a1a1a1a1", username="Alice Example", avatar="/avatars/a1a1a1a1a1a1a1a1.svg"
)
BOB = Member(id="b2b2b2b2b2b2b2b2", username="Bob Example", avatar="/avatars/b2b2b2b2b2b2b2b2.svg")
E = TypeVar("E")


class Recorder:
    """An EventSink that keeps every event, in order (it delivers nothing itself)."""

    def __init__(self) -> None:
        self.events: list[BrokerEvent] = []
        self.arrived = asyncio.Event()

    def deliver(self, event: BrokerEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    def position(self, room: str) -> tuple[int, int] | None:
        positions = [e.position for e in self.of_type(Publication) if e.room == room]
        return max(positions, default=None)

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async def enough() -> None:
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)

    def of_type(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]

    def texts(self) -> list[tuple[str, str]]:
        """(room, text) of every publication."""
        return [(e.room, orjson.loads(f"{{{e.body}}}")["text"]) for e in self.of_type(Publication)]


@pytest.fixture(params=["memory", "redis", "cluster"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        instance = memory_backend(history_max_len=5)
    else:
        cluster = request.param == "cluster"
        url = request.getfixturevalue("cluster_url" if cluster else "redis_url")
        settings = load_settings(
            {"REDIS_URL": url, "REDIS_CLUSTER": str(cluster), "HISTORY_SIZE": "5",
             "HISTORY_MAX_LEN": "5", "PRESENCE_TTL": "3"}
        )  # fmt: skip
        instance = redis_backend(settings)
    yield instance
    await instance.close()


async def started(backend: Backend) -> Recorder:
    recorder = Recorder()
    broker = backend.broker
    await broker.start(recorder)
    for _ in range(100):
        if broker.ready:
            break
        await asyncio.sleep(0.05)
    assert broker.ready
    return recorder


async def test_publish_stores_and_fans_out_in_order(backend: Backend) -> None:
    recorder = await started(backend)
    broker = backend.broker
    await broker.subscribe("room1")
    ids = [
        (await broker.publish_message("room1", ALICE, f"m{i}", None)).message_id for i in range(3)
    ]
    await recorder.wait_for(3)
    pairs = [protocol.parse_message_id(i) for i in ids]
    assert pairs == sorted(pairs) and len(set(pairs)) == 3
    delivered = recorder.of_type(Publication)
    assert [p.message_id for p in delivered] == ids
    assert [p.position for p in delivered] == pairs
    assert recorder.texts() == [("room1", "m0"), ("room1", "m1"), ("room1", "m2")]
    # The body is what the frame is built from: the client sees the message as stored.
    frame = orjson.loads(protocol.message_frame(delivered[0].message_id, delivered[0].body))
    assert frame["message"]["username"] == "Alice Example"
    assert frame["message"]["date"] == int(ids[0].split("-")[0])
    history = await broker.history("room1", None, 10)
    assert [orjson.loads(m) for m in history.messages] == [
        orjson.loads(protocol.message_frame(p.message_id, p.body))["message"] for p in delivered
    ]
    assert history.complete and history.last_id == ids[-1]


async def test_rooms_are_separate(backend: Backend) -> None:
    recorder = await started(backend)
    broker = backend.broker
    await broker.subscribe("one")
    await broker.publish_message("two", ALICE, "elsewhere", None)
    await broker.publish_message("one", ALICE, "here", None)
    await recorder.wait_for(1)
    await asyncio.sleep(0.1)
    assert recorder.texts() == [("one", "here")] and len(recorder.events) == 1
    assert len((await broker.history("two", None, 10)).messages) == 1


async def test_unsubscribed_rooms_are_not_delivered(backend: Backend) -> None:
    recorder = await started(backend)
    broker = backend.broker
    await broker.subscribe("r")
    await broker.unsubscribe("r")
    await broker.publish_message("r", ALICE, "nobody listens", None)
    await backend.presence.join_room("r", ALICE, "c1")
    await asyncio.sleep(0.2)
    assert recorder.events == []


async def test_history_is_capped_and_limited(backend: Backend) -> None:
    await started(backend)
    broker = backend.broker
    for i in range(300):
        await broker.publish_message("busy", ALICE, f"m{i}", None)
    history = await broker.history("busy", None, 3)
    assert [orjson.loads(m)["text"] for m in history.messages] == ["m297", "m298", "m299"]
    assert history.complete
    if isinstance(broker, RedisBroker):
        # Approximate trimming (MAXLEN ~) keeps whole stream nodes: bounded, not exact.
        assert await broker.clients.commands.xlen("chat:{busy}:history") <= 5 + 100
    else:
        assert len((await broker.history("busy", None, 1000)).messages) == 5


async def test_since_returns_only_newer(backend: Backend) -> None:
    await started(backend)
    broker = backend.broker
    ids = [(await broker.publish_message("r", BOB, f"m{i}", None)).message_id for i in range(4)]
    history = await broker.history("r", ids[1], 10)
    assert [orjson.loads(m)["id"] for m in history.messages] == ids[2:]
    assert history.complete
    caught_up = await broker.history("r", ids[-1], 10)
    assert caught_up.messages == [] and caught_up.complete


async def test_since_beyond_the_limit_is_incomplete(backend: Backend) -> None:
    await started(backend)
    broker = backend.broker
    ids = [(await broker.publish_message("r", BOB, f"m{i}", None)).message_id for i in range(4)]
    history = await broker.history("r", ids[0], 2)
    assert [orjson.loads(m)["id"] for m in history.messages] == ids[2:]
    assert not history.complete


async def test_since_before_trimmed_history_is_incomplete(backend: Backend) -> None:
    await started(backend)
    broker = backend.broker
    first = (await broker.publish_message("r", BOB, "first", None)).message_id
    for i in range(400):
        await broker.publish_message("r", BOB, f"m{i}", None)
    history = await broker.history("r", first, 5)
    assert not history.complete


async def test_since_into_an_unknown_room_is_incomplete(backend: Backend) -> None:
    await started(backend)
    history = await backend.broker.history("never", "1700000000000-0", 10)
    assert history.messages == [] and not history.complete


async def test_since_newer_than_anything_stored_is_incomplete(backend: Backend) -> None:
    """A `since` the room never issued (a future id, the largest id) is answered, not an
    error, and cannot be vouched for: `complete` is false (docs/protocol.md)."""
    await started(backend)
    broker = backend.broker
    newest = (await broker.publish_message("r", BOB, "only", None)).message_id
    ms = protocol.parse_message_id(newest)[0]
    for since in (f"{ms + 86_400_000}-0", f"{2**64 - 1}-{2**64 - 1}", f"{ms}-{2**64 - 1}"):
        history = await broker.history("r", since, 10)
        assert history.messages == [] and not history.complete, since
    assert (await broker.history("r", newest, 10)).complete


async def test_same_ref_stores_once(backend: Backend) -> None:
    recorder = await started(backend)
    broker = backend.broker
    await broker.subscribe("r")
    first = await broker.publish_message("r", ALICE, "hello", "ref-1")
    again = await broker.publish_message("r", ALICE, "hello", "ref-1")
    other_member = await broker.publish_message("r", BOB, "hello", "ref-1")
    assert not first.duplicate and again.duplicate
    assert again.message_id == first.message_id
    assert other_member.message_id != first.message_id
    await recorder.wait_for(2)
    await asyncio.sleep(0.1)
    assert len(recorder.of_type(Publication)) == 2
    assert len((await broker.history("r", None, 10)).messages) == 2


async def test_presence_counts_connections(backend: Backend) -> None:
    recorder = await started(backend)
    presence = backend.presence
    await backend.broker.subscribe("r")
    await presence.join_room("r", ALICE, "c1")
    await presence.join_room("r", ALICE, "c2")
    await presence.join_room("r", BOB, "c3")
    members = await presence.members("r")
    assert set(members) == {ALICE.id, BOB.id}
    assert orjson.loads(members[ALICE.id]) == {
        "id": ALICE.id,
        "username": ALICE.username,
        "avatar": ALICE.avatar,
    }
    await presence.leave_room("r", ALICE.id, "c1")
    assert set(await presence.members("r")) == {ALICE.id, BOB.id}
    await presence.leave_room("r", ALICE.id, "c2")
    await presence.leave_room("r", ALICE.id, "c2")  # twice: still one MemberLeft
    assert set(await presence.members("r")) == {BOB.id}
    await recorder.wait_for(3)
    await asyncio.sleep(0.1)
    joined = recorder.of_type(MemberJoined)
    assert [(e.room, e.member_id) for e in joined] == [("r", ALICE.id), ("r", BOB.id)]
    assert [e.member_json for e in joined] == [ALICE.to_json(), BOB.to_json()]
    assert recorder.of_type(MemberLeft) == [MemberLeft("r", ALICE.id)]


async def test_a_new_connection_under_a_new_name_renames_the_member(backend: Backend) -> None:
    recorder = await started(backend)
    presence = backend.presence
    await backend.broker.subscribe("r")
    await presence.join_room("r", ALICE, "c1")
    renamed = Member(id=ALICE.id, username="Ally", avatar=ALICE.avatar)
    await presence.join_room("r", renamed, "c2")  # the same person, another tab, a new name
    await presence.join_room("r", renamed, "c3")  # same name again: nothing to announce
    await recorder.wait_for(2)
    await asyncio.sleep(0.1)
    names = [orjson.loads(e.member_json)["username"] for e in recorder.of_type(MemberJoined)]
    assert names == [ALICE.username, "Ally"]
    assert orjson.loads((await presence.members("r"))[ALICE.id])["username"] == "Ally"
    await presence.leave_room("r", ALICE.id, "c1")
    assert recorder.of_type(MemberLeft) == []


async def test_identity_round_trip(backend: Backend) -> None:
    await started(backend)
    identities = backend.identities
    await identities.save_identity("t" * 32, ALICE)
    assert await identities.load_identity("t" * 32) == ALICE
    assert await identities.load_identity("u" * 32) is None


# --- the roster: members kept from presence events (Redis brokers) ---------------------


@pytest.fixture(params=["redis", "cluster"])
async def two_backends(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Backend, ...]]:
    """Two Redis backends on one Redis, as two relay processes would be."""
    cluster = request.param == "cluster"
    url = request.getfixturevalue("cluster_url" if cluster else "redis_url")
    settings = load_settings({"REDIS_URL": url, "REDIS_CLUSTER": str(cluster)})
    backends = (redis_backend(settings), redis_backend(settings))
    yield backends
    for instance in backends:
        await instance.close()


async def eventually(check, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def rosters(backend: Backend) -> Rosters:
    presence = backend.presence
    assert isinstance(presence, RedisPresence)
    return presence._rosters


async def test_members_follow_other_processes_presence_events(two_backends) -> None:
    here, there = two_backends
    for instance in two_backends:
        await started(instance)
        await instance.broker.subscribe("r")
    await here.presence.join_room("r", ALICE, "c1")
    assert set(await here.presence.members("r")) == {ALICE.id}  # read once, then from events
    await there.presence.join_room("r", BOB, "c2")
    await eventually(lambda: BOB.id in (rosters(here).get("r") or {}))
    assert set(await here.presence.members("r")) == {ALICE.id, BOB.id}
    await there.presence.leave_room("r", BOB.id, "c2")
    await eventually(lambda: BOB.id not in (rosters(here).get("r") or {}))
    assert set(await here.presence.members("r")) == {ALICE.id}


async def test_members_are_read_from_redis_once_per_room(redis_url: str, redis_server) -> None:
    backend = redis_backend(load_settings({"REDIS_URL": redis_url}))
    try:
        await started(backend)
        await backend.broker.subscribe("big")
        admin = redis_server.client()
        admin.config_resetstat()
        for index in range(20):
            member = Member(id=f"{index:016x}", username=f"M {index}", avatar="/a.svg")
            await backend.presence.join_room("big", member, f"c{index}")
            assert len(await backend.presence.members("big")) == index + 1
        reads = admin.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0)
        admin.close()
        assert reads == 1
    finally:
        await backend.close()


async def test_a_resubscribe_drops_the_roster(redis_url: str, redis_server) -> None:
    """Redis restarted empty: members of processes that died meanwhile published no
    delete. The subscriber's reconnect makes the next read go to Redis again."""
    backend = redis_backend(load_settings({"REDIS_URL": redis_url}))
    presence = backend.presence
    try:
        await started(backend)
        await backend.broker.subscribe("r")
        await presence.join_room("r", ALICE, "c1")
        await presence.join_room("r", BOB, "c2")
        assert set(await presence.members("r")) == {ALICE.id, BOB.id}
        admin = redis_server.client()
        admin.hdel("chat:{r}:members", BOB.id)  # BOB's process died during an outage
        admin.client_kill_filter(_type="pubsub")
        admin.close()
        await eventually(lambda: "r" not in rosters(backend))
        await eventually(lambda: backend.broker.ready)
        assert set(await presence.members("r")) == {ALICE.id}
    finally:
        await backend.close()


async def test_a_resubscribe_backfills_after_the_sinks_position(
    redis_url: str, redis_server
) -> None:
    """The hub keeps the delivery position (EventSink.position); the backfill after a
    resubscribe reads from it: what was delivered is not delivered again."""
    backend = redis_backend(load_settings({"REDIS_URL": redis_url}))
    broker = backend.broker
    try:
        recorder = await started(backend)
        await broker.subscribe("r")  # an empty room: nothing to start a backfill from
        first = (await broker.publish_message("r", ALICE, "before", None)).message_id
        await recorder.wait_for(1)
        admin = redis_server.client()
        admin.client_kill_filter(_type="pubsub")
        admin.close()
        second = (await broker.publish_message("r", ALICE, "during", None)).message_id
        await eventually(lambda: len(recorder.of_type(Publication)) >= 2)
        await eventually(lambda: broker.stats().reconnects >= 1)
        await asyncio.sleep(0.2)
        assert [p.message_id for p in recorder.of_type(Publication)] == [first, second]
    finally:
        await backend.close()
