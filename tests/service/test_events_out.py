"""Events out, end to end: relays on one redis-server send to an EventBridge bus on moto's
server, a rule forwards everything to SQS, and the test reads the queue as a consumer would.

Shown: the schema (contract.events) of every event; each event once under normal
operation though two relays serve the room; and a bus that fails for 10 s loses nothing
the buffer holds, while the chat keeps answering at its usual speed.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from contract import events as schema
from harness.client import ChatClient
from harness.eventbridge import EventQueue, FailingBus
from harness.moto_server import REGION, MotoServer
from harness.relay import RelayFleet

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def fleet_env(redis_url: str, aws: dict[str, str], bus: str) -> dict[str, str]:
    return {**aws, "REDIS_URL": redis_url, "EVENT_BUS_NAME": bus, "AWS_REGION": REGION}


def by_type(received: list[dict[str, Any]]) -> Counter[str]:
    return Counter(envelope["detail-type"] for envelope in received)


def check_schema(envelope: dict[str, Any], room: str) -> dict[str, Any]:
    assert envelope["source"] == schema.SOURCE
    kind = envelope["detail-type"]
    detail: dict[str, Any] = envelope["detail"]
    assert tuple(detail) == schema.DETAIL_FIELDS[kind]
    assert detail["version"] == schema.SCHEMA_VERSION and detail["type"] == kind
    assert detail["room"] == room and ISO_MS.fullmatch(detail["time"])
    assert set(detail["member"]) == {"id", "username", "avatar"}
    return detail


def dropped(relay_http: str) -> float:
    with urllib.request.urlopen(f"{relay_http}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r"^chat_relay_events_dropped_total (\S+)$", text, re.MULTILINE)
    assert match, "no events_dropped metric"
    return float(match.group(1))


async def test_two_relays_send_each_event_once_with_its_schema(
    moto: MotoServer, redis_url: str
) -> None:
    queue = EventQueue(moto, "chat-once")
    room = "events-once"
    with RelayFleet(fleet_env(redis_url, moto.env(), "chat-once")) as fleet:
        first, second = fleet.start(2)
        acks: list[str] = []
        async with (
            await ChatClient.connect(first.ws) as ada,
            await ChatClient.connect(second.ws) as bob,
        ):
            joined_ada = await ada.join(room, name="Ada")
            joined_bob = await bob.join(room, name="Bob")
            for n in range(3):
                acks.append((await ada.say(f"from ada {n}"))["id"])
                acks.append((await bob.say(f"from bob {n}"))["id"])
        received = queue.wait_for(10, timeout=30)
        assert dropped(first.http) == 0 and dropped(second.http) == 0

    assert by_type(received) == {"member.joined": 2, "message.posted": 6, "member.left": 2}
    details = [check_schema(envelope, room) for envelope in received]
    assert len({d["id"] for d in details}) == 10  # once each: no relay sent another's
    posted = {d["message"]["id"]: d for d in details if d["type"] == "message.posted"}
    assert sorted(posted) == sorted(acks)
    for message_id, detail in posted.items():
        message = detail["message"]
        assert message["date"] == int(message_id.partition("-")[0])
        assert message["member"] == detail["member"]["id"]
        assert message["username"] in ("Ada", "Bob")
        assert message["text"] == f"from {message['username'].lower()} {message['text'][-1]}"
        assert detail["id"] == schema.message_event_id("message.posted", room, message_id)
    members = {joined_ada.member["id"]: "Ada", joined_bob.member["id"]: "Bob"}
    for kind in ("member.joined", "member.left"):
        of_kind = [d for d in details if d["type"] == kind]
        assert {d["member"]["id"]: d["member"]["username"] for d in of_kind} == members
        assert len({d["connection"] for d in of_kind}) == 2
    assert all(d["close_code"] == 1000 for d in details if d["type"] == "member.left")


async def test_a_bus_failing_for_ten_seconds_loses_nothing_within_the_buffer(
    moto: MotoServer, redis_url: str
) -> None:
    queue = EventQueue(moto, "chat-outage")
    room = "events-outage"
    with (
        FailingBus(moto) as bus,
        RelayFleet(fleet_env(redis_url, bus.env(), "chat-outage")) as fleet,
    ):
        first, second = fleet.start(2)
        acks: list[str] = []
        async with await ChatClient.connect(first.ws) as ada:
            await ada.join(room)
            bus.failing = True
            outage_started = time.monotonic()
            slowest = 0.0
            async with await ChatClient.connect(second.ws) as bob:
                await bob.join(room)
                for n in range(40):
                    speaker = ada if n % 2 else bob
                    sent = time.monotonic()
                    acks.append((await speaker.say(f"during the outage {n}"))["id"])
                    slowest = max(slowest, time.monotonic() - sent)
                    await asyncio.sleep(0.1)
            await asyncio.sleep(max(0.0, 10 - (time.monotonic() - outage_started)))
            assert bus.refused > 0, "the relays never tried the failing bus"
            bus.failing = False
            # 1 + 1 joins, 40 messages, bob's leave; ada's leave comes with the fleet's stop.
            received = queue.wait_for(43, timeout=30)
        assert dropped(first.http) == 0 and dropped(second.http) == 0

    assert slowest < 1.0, f"a send waited {slowest:.2f} s: the chat waited on the bus"
    posted = {
        e["detail"]["message"]["id"] for e in received if e["detail-type"] == "message.posted"
    }
    assert posted == set(acks)
    counts = by_type(received)
    assert counts["member.joined"] == 2 and counts["member.left"] >= 1
    for envelope in received:
        check_schema(envelope, room)


async def test_a_relay_stopping_sends_what_it_holds_before_it_exits(moto: MotoServer) -> None:
    """Memory mode, one relay: SIGTERM drains the sockets (1012), and the member.left of
    each goes out before the process ends, with everything still buffered."""
    queue = EventQueue(moto, "chat-stop")
    room = "events-stop"
    env = {**moto.env(), "EVENT_BUS_NAME": "chat-stop", "AWS_REGION": REGION}
    env["DRAIN_SECONDS"] = "2"
    with RelayFleet(env) as fleet:
        (relay,) = fleet.start(1)
        async with await ChatClient.connect(relay.ws) as ada:
            await ada.join(room)
            ack = await ada.say("just before the stop")
            exit_code = await asyncio.to_thread(relay.terminate, 30)
            assert await ada.closed_with() == 1012
        # uvicorn ends a graceful shutdown by re-raising the signal: -15, not a kill (-9).
        assert exit_code == -signal.SIGTERM
        received = queue.wait_for(3, timeout=20)
    assert by_type(received) == {"member.joined": 1, "message.posted": 1, "member.left": 1}
    details = {e["detail-type"]: check_schema(e, room) for e in received}
    assert details["message.posted"]["message"]["id"] == ack["id"]
    assert details["member.left"]["close_code"] == 1012


async def test_a_crashed_relays_connections_leave_by_the_relay_that_reaps_them(
    moto: MotoServer, redis_url: str
) -> None:
    """kill -9 of the relay holding Ada's socket (two rooms on it): its outbox dies with it,
    but the relay still serving those rooms reaps her connection from their presence and
    emits her member.left in each, close code 1006, one each, with ids any retry repeats."""
    queue = EventQueue(moto, "chat-crash")
    rooms = ("crash-a", "crash-b")
    env = {**fleet_env(redis_url, moto.env(), "chat-crash"), "PRESENCE_TTL": "3"}
    with RelayFleet(env) as fleet:
        doomed, survivor = fleet.start(2)
        async with (
            await ChatClient.connect(doomed.ws) as ada,
            await ChatClient.connect(survivor.ws) as bob,
        ):
            joined_ada = await ada.join(rooms[0], name="Ada")
            await ada.subscribe(rooms[1])
            await bob.join(rooms[0], name="Bob")
            await bob.subscribe(rooms[1])
            queue.wait_for(4, timeout=30, settle=0)  # the joins are out before the crash
            doomed.kill()
            # reaped within PRESENCE_TTL x 1.25 of the last heartbeat, then sent
            received = queue.wait_for(6, timeout=30)
        assert dropped(survivor.http) == 0

    ada_id = joined_ada.member["id"]
    joins = [e["detail"] for e in received if e["detail-type"] == "member.joined"]
    ada_connection = {d["connection"] for d in joins if d["member"]["id"] == ada_id}
    assert len(ada_connection) == 1  # one socket, two rooms
    lost = [
        check_schema(e, e["detail"]["room"])
        for e in received
        if e["detail-type"] == "member.left" and e["detail"]["member"]["id"] == ada_id
    ]
    assert sorted(d["room"] for d in lost) == sorted(rooms)  # once per room
    for detail in lost:
        assert detail["close_code"] == 1006
        assert detail["connection"] in ada_connection
        assert detail["member"]["username"] == "Ada"
        assert detail["id"] == schema.lost_connection_event_id(detail["room"], detail["connection"])


async def test_an_unsubscribe_is_that_rooms_member_left_and_the_close_the_rest(
    moto: MotoServer,
) -> None:
    """Memory mode, one relay, one socket in two rooms: leaving one is its member.left with
    no close code (the socket stays open); closing the socket is the other room's."""
    queue = EventQueue(moto, "chat-rooms")
    env = {**moto.env(), "EVENT_BUS_NAME": "chat-rooms", "AWS_REGION": REGION}
    with RelayFleet(env) as fleet:
        (relay,) = fleet.start(1)
        async with await ChatClient.connect(relay.ws) as ada:
            await ada.join("rooms-a", name="Ada")
            await ada.subscribe("rooms-b")
            await ada.unsubscribe("rooms-b")
            queue.wait_for(3, timeout=30, settle=0)
        received = queue.wait_for(4, timeout=30)
    sequence = [(e["detail-type"], e["detail"]["room"]) for e in received]
    assert sorted(sequence) == sorted(
        [
            ("member.joined", "rooms-a"),
            ("member.joined", "rooms-b"),
            ("member.left", "rooms-b"),
            ("member.left", "rooms-a"),
        ]
    )
    left = {
        e["detail"]["room"]: check_schema(e, e["detail"]["room"])
        for e in received
        if e["detail-type"] == "member.left"
    }
    assert left["rooms-b"]["close_code"] is None
    assert left["rooms-a"]["close_code"] == 1000
