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
    MalformedEvent,
    MemberJoined,
    MemberLeft,
    Notice,
    Publication,
    PublishOptions,
    PublishResult,
    memory_backend,
)
from service.broker.redis import RedisBroker, RedisPresence, redis_backend
from service.broker.roster import Rosters
from service.broker.settings import MemoryBrokerSettings
from service.config import load_settings
from service.members import Member
from service.part_settings import redis_broker_settings
from tests.support.publishing import send

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
        instance = memory_backend(MemoryBrokerSettings(history_max_len=5))
    else:
        cluster = request.param == "cluster"
        url = request.getfixturevalue("cluster_url" if cluster else "redis_url")
        settings = load_settings(
            {"REDIS_URL": url, "REDIS_CLUSTER": str(cluster), "HISTORY_SIZE": "5",
             "HISTORY_MAX_LEN": "5", "PRESENCE_TTL": "3"}
        )  # fmt: skip
        instance = redis_backend(redis_broker_settings(settings))
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
    ids = [(await send(broker, "room1", ALICE, f"m{i}")).message_id for i in range(3)]
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
    await send(broker, "two", ALICE, "elsewhere")
    await send(broker, "one", ALICE, "here")
    await recorder.wait_for(1)
    await asyncio.sleep(0.1)
    assert recorder.texts() == [("one", "here")] and len(recorder.events) == 1
    assert len((await broker.history("two", None, 10)).messages) == 1


async def test_unsubscribed_rooms_are_not_delivered(backend: Backend) -> None:
    recorder = await started(backend)
    broker = backend.broker
    await broker.subscribe("r")
    await broker.unsubscribe("r")
    await send(broker, "r", ALICE, "nobody listens")
    await backend.presence.join_room("r", ALICE, "c1")
    await asyncio.sleep(0.2)
    assert recorder.events == []


async def test_history_is_capped_and_limited(backend: Backend) -> None:
    await started(backend)
    broker = backend.broker
    for i in range(300):
        await send(broker, "busy", ALICE, f"m{i}")
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
    ids = [(await send(broker, "r", BOB, f"m{i}")).message_id for i in range(4)]
    history = await broker.history("r", ids[1], 10)
    assert [orjson.loads(m)["id"] for m in history.messages] == ids[2:]
    assert history.complete
    caught_up = await broker.history("r", ids[-1], 10)
    assert caught_up.messages == [] and caught_up.complete


async def test_since_beyond_the_limit_is_incomplete(backend: Backend) -> None:
    await started(backend)
    broker = backend.broker
    ids = [(await send(broker, "r", BOB, f"m{i}")).message_id for i in range(4)]
    history = await broker.history("r", ids[0], 2)
    assert [orjson.loads(m)["id"] for m in history.messages] == ids[2:]
    assert not history.complete


async def test_since_before_trimmed_history_is_incomplete(backend: Backend) -> None:
    await started(backend)
    broker = backend.broker
    first = (await send(broker, "r", BOB, "first")).message_id
    for i in range(400):
        await send(broker, "r", BOB, f"m{i}")
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
    newest = (await send(broker, "r", BOB, "only")).message_id
    ms = protocol.parse_message_id(newest)[0]
    for since in (f"{ms + 86_400_000}-0", f"{2**64 - 1}-{2**64 - 1}", f"{ms}-{2**64 - 1}"):
        history = await broker.history("r", since, 10)
        assert history.messages == [] and not history.complete, since
    assert (await broker.history("r", newest, 10)).complete


async def test_same_ref_stores_once(backend: Backend) -> None:
    recorder = await started(backend)
    broker = backend.broker
    await broker.subscribe("r")
    first = await send(broker, "r", ALICE, "hello", "ref-1")
    again = await send(broker, "r", ALICE, "hello", "ref-1")
    other_member = await send(broker, "r", BOB, "hello", "ref-1")
    assert not first.duplicate and again.duplicate
    assert again.message_id == first.message_id
    assert other_member.message_id != first.message_id
    await recorder.wait_for(2)
    await asyncio.sleep(0.1)
    assert len(recorder.of_type(Publication)) == 2
    assert len((await broker.history("r", None, 10)).messages) == 2


FAN_OUT_ONLY = PublishOptions(history=False)


def typing_frame(member: Member) -> str:
    return orjson.dumps({"type": "typing", "member": member.id}).decode()


def texts_of(messages: list[str]) -> list[str]:
    return [orjson.loads(m)["text"] for m in messages]


async def test_an_idempotency_key_publishes_once_within_its_ttl(backend: Backend) -> None:
    """The server API's retried POST: the same key answers the first id, stores nothing."""
    recorder = await started(backend)
    broker = backend.broker
    await broker.subscribe("r")
    body = protocol.message_body(ALICE.id, ALICE.username, ALICE.avatar, "posted")
    once = PublishOptions(idempotency_key="post-1", idempotency_ttl=1)
    first = await broker.publish("r", body, once)
    again = await broker.publish("r", body, once)
    elsewhere = await broker.publish("other", body, once)  # keys are per room
    assert first.message_id is not None and not first.duplicate
    assert again == PublishResult(message_id=first.message_id, duplicate=True)
    assert not elsewhere.duplicate
    assert texts_of((await broker.history("r", None, 10)).messages) == ["posted"]
    await asyncio.sleep(1.2)  # past the ttl: the key is forgotten
    later = await broker.publish("r", body, once)
    assert not later.duplicate and later.message_id != first.message_id
    await recorder.wait_for(2)
    await asyncio.sleep(0.1)
    assert [p.message_id for p in recorder.of_type(Publication)] == [
        first.message_id,
        later.message_id,
    ]


async def test_a_publish_without_history_fans_out_only(backend: Backend) -> None:
    recorder = await started(backend)
    broker = backend.broker
    await broker.subscribe("r")
    typing = typing_frame(BOB)
    result = await broker.publish("r", typing, FAN_OUT_ONLY)
    assert result == PublishResult(message_id=None, duplicate=False)
    keyed = PublishOptions(history=False, idempotency_key="typing-1")
    assert not (await broker.publish("r", typing, keyed)).duplicate
    assert (await broker.publish("r", typing, keyed)).duplicate
    await broker.publish("r", protocol.member_add(ALICE.to_json()), FAN_OUT_ONLY)
    await broker.publish("r", protocol.member_delete(ALICE.id), FAN_OUT_ONLY)
    await recorder.wait_for(4)
    await asyncio.sleep(0.1)
    assert recorder.events == [
        Notice("r", typing),
        Notice("r", typing),
        MemberJoined("r", ALICE.id, ALICE.to_json()),
        MemberLeft("r", ALICE.id),
    ]
    history = await broker.history("r", None, 10)
    assert history.messages == [] and history.last_id is None
    # What no subscriber would read is refused, not published.
    for bad in ("not json", '{"no":"type"}', '{"type":"messages","message":{}}'):
        with pytest.raises(MalformedEvent):
            await broker.publish("r", bad, FAN_OUT_ONLY)


async def test_a_tombstone_hides_the_message_from_every_history_read(backend: Backend) -> None:
    recorder = await started(backend)
    broker = backend.broker
    await broker.subscribe("r")
    ids = [(await send(broker, "r", BOB, f"m{i}")).message_id for i in range(4)]
    deletion = orjson.dumps({"type": "message_deleted", "id": ids[1]}).decode()
    deleted = await broker.publish("r", deletion, PublishOptions(history=False, tombstone=ids[1]))
    assert deleted.message_id is None
    await recorder.wait_for(5)
    assert recorder.events[-1] == Notice("r", deletion)  # subscribers hear of it at once
    joined = await broker.history("r", None, 10)
    assert texts_of(joined.messages) == ["m0", "m2", "m3"] and joined.complete
    resumed = await broker.history("r", ids[0], 10)
    assert texts_of(resumed.messages) == ["m2", "m3"] and resumed.complete
    page = await broker.history_before("r", None, 10)
    assert texts_of(page.messages) == ["m0", "m2", "m3"] and page.complete
    # Deleting the newest keeps it the position live copies are compared with.
    await broker.publish("r", deletion, PublishOptions(history=False, tombstone=ids[3]))
    newest = await broker.history("r", None, 10)
    assert texts_of(newest.messages) == ["m0", "m2"] and newest.last_id == ids[3]
    # A message stored with a tombstone: the deletion and the replacement are one step.
    body = protocol.message_body(BOB.id, BOB.username, BOB.avatar, "m2, edited")
    await broker.publish("r", body, PublishOptions(tombstone=ids[2]))
    assert texts_of((await broker.history("r", None, 10)).messages) == ["m0", "m2, edited"]
    if isinstance(broker, RedisBroker):  # tombstones expire with the history
        commands = broker.clients.commands
        assert (
            0 < await commands.ttl("chat:{r}:tombstones") <= await commands.ttl("chat:{r}:history")
        )


async def test_history_before_pages_back_to_the_oldest(backend: Backend) -> None:
    await started(backend)
    broker = backend.broker
    ids = [(await send(broker, "r", BOB, f"m{i}")).message_id for i in range(5)]
    newest = await broker.history_before("r", None, 2)
    assert texts_of(newest.messages) == ["m3", "m4"]
    assert not newest.complete and newest.next_before == ids[3]
    middle = await broker.history_before("r", newest.next_before, 2)
    assert texts_of(middle.messages) == ["m1", "m2"] and not middle.complete
    oldest = await broker.history_before("r", middle.next_before, 2)
    assert texts_of(oldest.messages) == ["m0"] and oldest.complete
    everything = await broker.history_before("r", None, 5)
    assert texts_of(everything.messages) == [f"m{i}" for i in range(5)] and everything.complete
    # Deleted messages do not fill a page: it reaches past them.
    await broker.publish("r", typing_frame(BOB), PublishOptions(history=False, tombstone=ids[2]))
    page = await broker.history_before("r", ids[3], 2)
    assert texts_of(page.messages) == ["m0", "m1"] and page.complete
    for before, limit in (("0-0", 5), (ids[0], 5), (None, 0)):
        empty = await broker.history_before("r", before, limit)
        assert empty.messages == [], (before, limit)
    assert (await broker.history_before("r", ids[0], 5)).complete
    unknown = await broker.history_before("never", None, 5)
    assert unknown.messages == [] and unknown.complete


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
    backends = (
        redis_backend(redis_broker_settings(settings)),
        redis_backend(redis_broker_settings(settings)),
    )
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
    backend = redis_backend(redis_broker_settings(load_settings({"REDIS_URL": redis_url})))
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
    backend = redis_backend(redis_broker_settings(load_settings({"REDIS_URL": redis_url})))
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
    backend = redis_backend(redis_broker_settings(load_settings({"REDIS_URL": redis_url})))
    broker = backend.broker
    try:
        recorder = await started(backend)
        await broker.subscribe("r")  # an empty room: nothing to start a backfill from
        first = (await send(broker, "r", ALICE, "before")).message_id
        await recorder.wait_for(1)
        admin = redis_server.client()
        admin.client_kill_filter(_type="pubsub")
        admin.close()
        second = (await send(broker, "r", ALICE, "during")).message_id
        await eventually(lambda: len(recorder.of_type(Publication)) >= 2)
        await eventually(lambda: broker.stats().reconnects >= 1)
        await asyncio.sleep(0.2)
        assert [p.message_id for p in recorder.of_type(Publication)] == [first, second]
    finally:
        await backend.close()
