"""The hub's API over the memory backend: register, join (gap-free), publish, leave,
snapshot. Connections are stand-ins that record the frames queued to them."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
import pytest

from service.broker import Backend, History, memory_backend
from service.broker.settings import MemoryBrokerSettings
from service.hub import Hub
from service.members import Member
from service.room_writes import member_key
from tests.support.publishing import send

pytestmark = pytest.mark.anyio

ALICE = Member(id="a1a1a1a1a1a1a1a1", username="Alice", avatar="/avatars/a1a1a1a1a1a1a1a1.svg")
BOB = Member(id="b2b2b2b2b2b2b2b2", username="Bob", avatar="/avatars/b2b2b2b2b2b2b2b2.svg")
_ids = itertools.count(1)


class RecordingConnection:
    """What the hub uses of a ClientConnection: an id and send_frame."""

    def __init__(self) -> None:
        self.id = f"test.{next(_ids)}"
        self.frames: list[bytes] = []

    def send_frame(self, frame: bytes) -> None:
        self.frames.append(frame)

    def send_text(self, text: str) -> None:
        self.frames.append(text.encode())

    def received(self) -> list[dict[str, Any]]:
        """Frames as JSON; a server text frame is 2 header bytes (+2 or 8 of length)."""
        out = []
        for frame in self.frames:
            start = frame.find(b"{")
            out.append(orjson.loads(frame[start:]))
        return out

    def types(self) -> list[str]:
        return [f["type"] for f in self.received()]


def burst_to(connection: RecordingConnection) -> Any:
    def burst(history: History, members: dict[str, str]) -> None:
        connection.send_text(orjson.dumps({"type": "burst", "members": sorted(members),
                                           "history": len(history.messages)}).decode())  # fmt: skip

    return burst


@pytest.fixture
async def hub() -> Any:
    instance = Hub(memory_backend(MemoryBrokerSettings(history_max_len=100)))
    await instance.start()
    yield instance
    await instance.close()


async def test_register_and_leave_count_connections(hub: Hub) -> None:
    one, two = RecordingConnection(), RecordingConnection()
    hub.register(one)
    hub.register(two)
    assert hub.snapshot().connections == 2 and hub.metrics.connections_opened == 2
    await hub.leave(one, 1000)
    assert hub.snapshot().connections == 1 and hub.snapshot().rooms == 0


async def test_join_sends_the_burst_then_live_frames_without_its_own_member_add(hub: Hub) -> None:
    alice, bob = RecordingConnection(), RecordingConnection()
    for connection, member in ((alice, ALICE), (bob, BOB)):
        hub.register(connection)
        await hub.join("r", connection, member, None, 10, burst_to(connection))
    await asyncio.sleep(0)
    assert alice.types() == ["burst", "member_add"]  # Bob's arrival, not her own
    assert bob.types() == ["burst"]
    assert bob.received()[0]["members"] == sorted([ALICE.id, BOB.id])
    published = await hub.writes.publish("r", BOB, "hello", member_key(BOB.id, "ref-1"))
    again = await hub.writes.publish("r", BOB, "hello", member_key(BOB.id, "ref-1"))
    assert again == published and hub.metrics.messages_in == 1
    for connection in (alice, bob):
        message = connection.received()[-1]
        assert message["type"] == "messages" and message["message"]["id"] == published
    assert hub.position("r") is not None
    assert hub.snapshot().rooms == 1 and hub.metrics.joins == 2


async def test_a_message_published_during_the_join_arrives_once(hub: Hub) -> None:
    """Published after the subscribe and before the history read: it is in the history
    and also delivered live meanwhile; the joiner gets it once, from the history."""
    backend: Backend = hub.backend
    broker = backend.broker
    read = broker.history
    sent: list[str] = []

    async def history_after_a_publish(room: str, since: str | None, limit: int) -> History:
        sent.append((await send(broker, room, ALICE, "racing")).message_id)
        return await read(room, since, limit)

    broker.history = history_after_a_publish
    joiner = RecordingConnection()
    history = await hub.join("r", joiner, BOB, None, 10, burst_to(joiner))
    assert [orjson.loads(m)["id"] for m in history.messages] == sent
    assert joiner.types() == ["burst"]  # the live copy was held and filtered out
    broker.history = read
    late = RecordingConnection()
    history = await hub.join("r", late, ALICE, sent[0], 10, burst_to(late))
    assert history.messages == [] and history.complete


async def test_leave_removes_presence_and_the_room(hub: Hub) -> None:
    alice, bob = RecordingConnection(), RecordingConnection()
    await hub.join("r", alice, ALICE, None, 10, burst_to(alice))
    await hub.join("r", bob, BOB, None, 10, burst_to(bob))
    await hub.leave(bob, 1000)
    assert set(await hub.backend.presence.members("r")) == {ALICE.id}
    assert alice.received()[-1] == {"type": "member_delete", "room": "r", "id": BOB.id}
    await hub.leave(alice, 1000)
    await asyncio.sleep(0)
    assert hub.snapshot().rooms == 0 and await hub.backend.presence.members("r") == {}
    await send(hub.backend.broker, "r", ALICE, "nobody hears")
    assert alice.types()[-1] == "member_delete"


async def test_one_connection_in_two_rooms_gets_each_rooms_frames_naming_it(hub: Hub) -> None:
    alice, bob = RecordingConnection(), RecordingConnection()
    await hub.join("one", alice, ALICE, None, 10, burst_to(alice))
    await hub.join("two", alice, ALICE, None, 10, burst_to(alice))
    assert hub.rooms_of(alice) == {"one", "two"}
    await hub.join("two", bob, BOB, None, 10, burst_to(bob))
    await hub.writes.publish("one", ALICE, "in one", None)
    await hub.writes.publish("two", BOB, "in two", None)
    await asyncio.sleep(0)
    live = [(f["type"], f["room"]) for f in alice.received() if f["type"] != "burst"]
    assert live == [("member_add", "two"), ("messages", "one"), ("messages", "two")]
    assert bob.received()[-1]["room"] == "two"


async def test_unsubscribe_stops_one_rooms_frames_and_its_presence(hub: Hub) -> None:
    alice, bob = RecordingConnection(), RecordingConnection()
    for room in ("one", "two"):
        await hub.join(room, alice, ALICE, None, 10, burst_to(alice))
        await hub.join(room, bob, BOB, None, 10, burst_to(bob))
    await hub.unsubscribe("one", alice)
    assert hub.rooms_of(alice) == {"two"}
    assert set(await hub.backend.presence.members("one")) == {BOB.id}
    assert set(await hub.backend.presence.members("two")) == {ALICE.id, BOB.id}
    assert bob.received()[-1] == {"type": "member_delete", "room": "one", "id": ALICE.id}
    before = len(alice.frames)
    await hub.writes.publish("one", BOB, "not for alice", None)
    await hub.writes.publish("two", BOB, "for alice", None)
    await asyncio.sleep(0)
    assert [f["room"] for f in alice.received()[before:]] == ["two"]
    await hub.leave(alice, 1000)
    assert set(await hub.backend.presence.members("two")) == {BOB.id}
    assert hub.rooms_of(alice) == set()


async def test_typing_skips_the_typist_and_backlogged_sockets_and_is_throttled(hub: Hub) -> None:
    alice, bob, slow = RecordingConnection(), RecordingConnection(), RecordingConnection()
    for connection, member in ((alice, ALICE), (bob, BOB), (slow, BOB)):
        connection.backlogged = False  # type: ignore[attr-defined]
        await hub.join("r", connection, member, None, 10, burst_to(connection))
    slow.backlogged = True  # type: ignore[attr-defined]
    await asyncio.sleep(0)
    marks = {c: len(c.frames) for c in (alice, bob, slow)}
    await hub.writes.typing("r", ALICE)
    await hub.writes.typing("r", ALICE)  # within TYPING_INTERVAL: dropped
    await asyncio.sleep(0)
    assert bob.received()[marks[bob] :] == [{"type": "typing", "room": "r", "member": ALICE.id}]
    assert len(alice.frames) == marks[alice] and len(slow.frames) == marks[slow]
    assert await hub.backend.broker.history("r", None, 10) == History([], True, None)
