"""The events outbox: batches of at most ten, retries with backoff, a bounded buffer whose
overflow is counted and logged, and a chat that never waits on (or hears from) the bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest

from contract import events as schema
from harness.polling import wait_for
from service.config import ConfigError, load_settings
from service.events_out import ChatEvents, Outbox, create_chat_events
from service.members import Member
from service.observability.counters import RelayMetrics

pytestmark = pytest.mark.anyio

MEMBER = Member(id="0123456789abcdef", username="Ada", avatar="/avatars/0123456789abcdef.svg")


class FakeBus:
    """Records every batch; fails whole calls while ``down``, or refuses chosen entries."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.accepted: list[dict[str, Any]] = []
        self.down = False
        self.refuse: set[str] = set()  # DetailTypes refused one by one
        self.calls = 0
        self.closed = False

    def close(self) -> None:
        self.closed = True

    async def put(self, entries: Sequence[dict[str, Any]]) -> list[str | None]:
        self.calls += 1
        await asyncio.sleep(0.005)  # a real call takes a while: events pile up meanwhile
        if self.down:
            raise ConnectionError("bus unreachable")
        self.batches.append(list(entries))
        answers: list[str | None] = []
        for entry in entries:
            if entry["DetailType"] in self.refuse:
                answers.append("InternalFailure")
            else:
                self.accepted.append(entry)
                answers.append(None)
        return answers


def entry(n: int, kind: str = "message.posted") -> dict[str, Any]:
    return {"DetailType": kind, "Detail": orjson.dumps({"n": n}).decode()}


async def settled(condition: Callable[[], object]) -> None:
    await wait_for(condition, 10, "the outbox to settle", interval=0.01)


async def test_everything_goes_out_in_batches_of_at_most_ten_in_order() -> None:
    bus, metrics = FakeBus(), RelayMetrics()
    outbox = Outbox(bus, 1000, metrics, workers=1)
    outbox.start()
    for n in range(95):
        assert outbox.add(entry(n))
    await settled(lambda: metrics.events_sent == 95)
    await outbox.close(1)
    assert bus.closed
    assert all(1 <= len(batch) <= schema.MAX_ENTRIES_PER_PUT for batch in bus.batches)
    assert max(len(batch) for batch in bus.batches) == schema.MAX_ENTRIES_PER_PUT
    assert [orjson.loads(e["Detail"])["n"] for e in bus.accepted] == list(range(95))
    assert metrics.events_dropped == 0 and metrics.events_buffered == 0


async def test_a_failing_bus_is_retried_with_backoff_and_loses_nothing_in_the_buffer() -> None:
    bus, metrics = FakeBus(), RelayMetrics()
    outbox = Outbox(bus, 100, metrics, backoff_first=0.02, backoff_max=0.1)
    outbox.start()
    bus.down = True
    for n in range(60):
        assert outbox.add(entry(n))
    await asyncio.sleep(0.5)
    calls_while_down = bus.calls
    assert metrics.events_sent == 0 and metrics.events_retried > 0
    # Backoff: four workers retrying for 0.5 s at up to 0.1 s apart, not hundreds of calls.
    assert calls_while_down < 4 * (0.5 / 0.02 + 1)
    bus.down = False
    await settled(lambda: metrics.events_sent == 60)
    await outbox.close(1)
    assert sorted(orjson.loads(e["Detail"])["n"] for e in bus.accepted) == list(range(60))
    assert metrics.events_dropped == 0


async def test_what_overflows_the_buffer_is_dropped_counted_and_logged_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus, metrics = FakeBus(), RelayMetrics()
    bus.down = True
    outbox = Outbox(bus, 10, metrics, backoff_first=0.02, backoff_max=0.05)
    outbox.start()
    with caplog.at_level(logging.WARNING, logger="service.events_out"):
        accepted = [outbox.add(entry(n)) for n in range(25)]
        await asyncio.sleep(0.2)
    assert accepted == [True] * 10 + [False] * 15
    assert metrics.events_dropped == 15
    dropped = [r for r in caplog.records if r.getMessage() == "event dropped"]
    assert dropped and getattr(dropped[-1], "reason") == "buffer full"  # noqa: B009
    assert all("Detail" not in r.getMessage() for r in caplog.records)
    bus.down = False
    await settled(lambda: metrics.events_sent == 10)
    await outbox.close(1)
    assert sorted(orjson.loads(e["Detail"])["n"] for e in bus.accepted) == list(range(10))


async def test_an_entry_the_bus_keeps_refusing_is_given_up_while_the_rest_go_out() -> None:
    bus, metrics = FakeBus(), RelayMetrics()
    bus.refuse = {"member.left"}
    outbox = Outbox(bus, 100, metrics, backoff_first=0.001, backoff_max=0.005)
    outbox.start()
    outbox.add(entry(1, "member.left"))
    for n in range(5):
        outbox.add(entry(n))
    await settled(lambda: metrics.events_dropped == 1 and metrics.events_sent == 5)
    await outbox.close(1)
    assert metrics.events_retried >= 1


async def test_chat_events_carry_the_schema_and_stable_ids() -> None:
    bus, metrics = FakeBus(), RelayMetrics()
    events = ChatEvents(Outbox(bus, 100, metrics), "chat-test")
    events.start()
    events.member_joined("lobby", MEMBER, "p1.1")
    events.message_posted("lobby", MEMBER, "1765000000123-0", "hello")
    events.connection_left("p1.1", 1000)
    events.connection_left("p1.2", 1000)  # never joined: nothing
    await settled(lambda: metrics.events_sent == 3)
    await events.close(1)
    details = {e["DetailType"]: orjson.loads(e["Detail"]) for e in bus.accepted}
    assert set(details) == {"member.joined", "message.posted", "member.left"}
    for kind, detail in details.items():
        assert tuple(detail) == schema.DETAIL_FIELDS[kind]  # type: ignore[index]
        assert detail["type"] == kind and detail["room"] == "lobby"
        assert detail["member"]["id"] == MEMBER.id
    posted = details["message.posted"]
    assert posted["message"] == {
        "id": "1765000000123-0",
        "date": 1765000000123,
        "member": MEMBER.id,
        "username": "Ada",
        "avatar": MEMBER.avatar,
        "text": "hello",
    }
    assert posted["time"] == "2025-12-06T05:46:40.123Z"  # the store's clock, from the id
    assert posted["id"] == schema.message_event_id("message.posted", "lobby", "1765000000123-0")
    assert details["member.left"]["close_code"] == 1000
    assert details["member.left"]["connection"] == details["member.joined"]["connection"]
    assert details["member.left"]["id"] != details["member.joined"]["id"]
    sources = {(e["Source"], e["EventBusName"]) for e in bus.accepted}
    assert sources == {(schema.SOURCE, "chat-test")}


async def test_each_room_a_connection_joined_hears_its_member_left() -> None:
    """Many rooms on one socket: an unsubscribe is one room's member.left (no close code,
    the socket stays open); the close is the member.left of every room still joined."""
    bus, metrics = FakeBus(), RelayMetrics()
    events = ChatEvents(Outbox(bus, 100, metrics), "chat-test")
    events.start()
    for room in ("lobby", "ops", "random"):
        events.member_joined(room, MEMBER, "p1.1")
    events.room_left("ops", "p1.1")
    events.room_left("ops", "p1.1")  # left already: nothing
    events.room_left("never", "p1.1")  # never joined: nothing
    events.connection_left("p1.1", 1001)
    await settled(lambda: metrics.events_sent == 6)
    await events.close(1)
    left = [orjson.loads(e["Detail"]) for e in bus.accepted if e["DetailType"] == "member.left"]
    assert [(d["room"], d["close_code"]) for d in left] == [
        ("ops", None),
        ("lobby", 1001),
        ("random", 1001),
    ]
    assert all(d["connection"] == "p1.1" and d["member"]["id"] == MEMBER.id for d in left)
    assert events._joined == {}


async def test_a_lost_connection_is_a_member_left_with_1006_and_a_stable_id() -> None:
    bus, metrics = FakeBus(), RelayMetrics()
    events = ChatEvents(Outbox(bus, 100, metrics), "chat-test")
    events.start()
    events.connection_lost("lobby", MEMBER.id, "p9.4", MEMBER.to_json())
    events.connection_lost("ops", "fedcba9876543210", "p9.5", None)  # its member json gone
    await settled(lambda: metrics.events_sent == 2)
    await events.close(1)
    first, second = (orjson.loads(e["Detail"]) for e in bus.accepted)
    assert tuple(first) == schema.DETAIL_FIELDS["member.left"]
    assert first["member"] == {"id": MEMBER.id, "username": "Ada", "avatar": MEMBER.avatar}
    assert (first["room"], first["connection"], first["close_code"]) == ("lobby", "p9.4", 1006)
    assert first["id"] == schema.lost_connection_event_id("lobby", "p9.4")
    assert second["member"] == {"id": "fedcba9876543210"}
    assert second["id"] != first["id"]


async def test_without_a_bus_nothing_is_built_or_kept() -> None:
    events = create_chat_events(load_settings({}), RelayMetrics())
    assert not events.enabled
    events.member_joined("lobby", MEMBER, "p1.1")
    events.emit("message.deleted", "lobby", None, message={"id": "1-0"})
    assert events._joined == {}
    await events.close(1)


def test_a_bad_bus_name_stops_the_relay_with_an_example() -> None:
    with pytest.raises(ConfigError, match=r"EVENT_BUS_NAME=.*chat-relay-prod-events"):
        load_settings({"EVENT_BUS_NAME": "not a bus!"})
    arn = "arn:aws:events:eu-west-1:123456789012:event-bus/chat"
    assert load_settings({"EVENT_BUS_NAME": arn}).event_bus_name == arn
    with pytest.raises(ConfigError, match="EVENT_BUFFER_SIZE=5 is out of range"):
        load_settings({"EVENT_BUFFER_SIZE": "5"})


def test_a_bus_without_a_region_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    settings = load_settings({"EVENT_BUS_NAME": "chat"})
    with pytest.raises(ConfigError, match="needs an AWS region: set AWS_REGION"):
        create_chat_events(settings, RelayMetrics())
