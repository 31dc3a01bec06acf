"""Many rooms on one connection over two relays on one redis-server: a member subscribed to
three rooms on relay A gets each room's messages sent on relay B, each frame naming its
room; an unsubscribe stops them; after a kill -9 of A it resumes each room gap-free."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.client import ChatClient
from harness.relay import RelayFleet

pytestmark = pytest.mark.anyio

ROOMS = ("red", "green", "blue")


@pytest.fixture
def fleet(redis_url: str) -> Iterator[RelayFleet]:
    with RelayFleet(
        env={"REDIS_URL": redis_url, "PRESENCE_TTL": "8", "RATE_LIMIT": "1000"}
    ) as relays:
        yield relays


async def subscribe_all(client: ChatClient, **join: Any) -> dict[str, dict[str, Any]]:
    """Join the first room and subscribe the others (each with its own ``since`` from
    ``join["since"]``, a dict by room); the welcomes by room."""
    since: dict[str, str] = join.pop("since", {})
    first, *rest = ROOMS
    fields = {**join, **({"since": since[first]} if first in since else {})}
    welcomes = {first: (await client.join(first, **fields))}
    for room in rest:
        fields = {"since": since[room]} if room in since else {}
        welcomes[room] = await client.subscribe(room, **fields)
    return {room: {"token": w.token, "history": w.history} for room, w in welcomes.items()}


async def test_each_rooms_messages_from_another_relay_carry_the_room(fleet: RelayFleet) -> None:
    a, b = fleet.start(2)
    async with (
        await ChatClient.connect(a.ws) as ann,
        await ChatClient.connect(b.ws) as bob,
    ):
        await subscribe_all(ann)
        await bob.join(ROOMS[0])
        for room in ROOMS[1:]:
            await bob.subscribe(room)
        sent = {room: (await bob.say(f"hello {room}", room=room))["id"] for room in ROOMS}
        for room in ROOMS:
            frame = await ann.recv_type("messages", room=room)
            assert frame["message"]["id"] == sent[room]
            assert frame["message"]["text"] == f"hello {room}"

        await ann.unsubscribe("green")
        await bob.say("green, unheard", room="green")
        last = await bob.say("red, heard", room="red")
        assert (await ann.recv_type("messages", room="red"))["message"]["id"] == last["id"]
        assert not [f for f in ann.backlog if f.get("room") == "green" and f["type"] == "messages"]


async def test_resume_after_a_kill_is_gap_free_per_room(fleet: RelayFleet) -> None:
    a, b = fleet.start(2)
    ann = await ChatClient.connect(a.ws)
    async with await ChatClient.connect(b.ws) as bob:
        token = (await subscribe_all(ann))[ROOMS[0]]["token"]
        await subscribe_all(bob)
        sent: dict[str, list[str]] = {room: [] for room in ROOMS}
        heard: dict[str, list[str]] = {room: [] for room in ROOMS}

        async def bob_sends(rounds: range) -> None:
            for i in rounds:
                for room in ROOMS:
                    sent[room].append((await bob.say(f"{room} {i}", room=room))["id"])

        async def hear(client: ChatClient, count: int) -> None:
            for room in ROOMS:
                for _ in range(count):
                    frame = await client.recv_type("messages", room=room)
                    heard[room].append(frame["message"]["id"])

        await bob_sends(range(3))
        await hear(ann, 3)
        a.kill()  # SIGKILL: no cleanup, no close frame
        await ann.close()
        await bob_sends(range(3, 6))  # while ann is away

        async with await ChatClient.connect(b.ws) as back:
            since = {room: heard[room][-1] for room in ROOMS}
            resumed = await subscribe_all(back, token=token, since=since)
            for room in ROOMS:
                assert resumed[room]["token"] == token
                history = resumed[room]["history"]
                assert history["room"] == room and history["complete"] is True
                heard[room] += [message["id"] for message in history["messages"]]
            await bob_sends(range(6, 8))  # live again
            await hear(back, 2)
        assert heard == sent  # every room: each message once, in order, no gap


async def test_typing_and_history_pages_across_relays(fleet: RelayFleet) -> None:
    a, b = fleet.start(2)
    async with (
        await ChatClient.connect(a.ws) as ann,
        await ChatClient.connect(b.ws) as bob,
    ):
        await subscribe_all(ann)
        await subscribe_all(bob)
        ids = [(await bob.say(f"blue {i}", room="blue"))["id"] for i in range(5)]
        await bob.send({"type": "typing", "room": "green"})
        notice = await ann.recv_type("typing")
        assert notice["room"] == "green" and set(notice) == {"type", "room", "member"}
        await ann.send({"type": "history", "room": "blue", "before": ids[4], "limit": 3})
        page = await ann.recv_type("history_page", room="blue")
        assert [m["id"] for m in page["messages"]] == ids[1:4] and page["complete"] is False
