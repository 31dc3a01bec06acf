"""Many rooms on one connection (protocol v1 additions), against a real single-server
relay: subscribe, unsubscribe, send with a room, the room on every frame, the room cap."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.client import ChatClient
from harness.relay import RelayProcess

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def relay() -> Iterator[RelayProcess]:
    with RelayProcess(env={"MAX_ROOMS_PER_CONNECTION": "3"}) as process:
        yield process


async def test_a_subscribe_gets_the_join_burst_of_its_room(relay: RelayProcess) -> None:
    async with (
        await ChatClient.connect(relay.ws) as ann,
        await ChatClient.connect(relay.ws) as bob,
    ):
        bob_id = (await bob.join("sub-b")).member["id"]
        said = await bob.say("before ann came")
        assert said["room"] == "sub-b"
        await bob.recv_type("messages")  # his own
        joined = await ann.join("sub-a")
        sub = await ann.subscribe("sub-b")
        assert sub.welcome["room"] == "sub-b" and sub.token == joined.token
        assert sub.member == joined.member
        assert sub.members["room"] == "sub-b"
        assert set(sub.members["members"]) == {joined.member["id"], bob_id}
        added = await bob.recv_type("member_add")
        assert added["room"] == "sub-b" and added["member"] == joined.member
        assert sub.history["room"] == "sub-b"
        assert [m["text"] for m in sub.history["messages"]] == ["before ann came"]

        await bob.say("live in b")
        await bob.recv_type("messages")
        live = await ann.recv_type("messages", room="sub-b")
        assert live["message"]["text"] == "live in b"
        await ann.say("from ann to b", room="sub-b")
        assert (await bob.recv_type("messages"))["message"]["text"] == "from ann to b"
        ack = await ann.say("to the joined room")  # no room: the join's
        assert ack["room"] == "sub-a"


async def test_unsubscribe_stops_the_rooms_frames_and_tells_the_others(
    relay: RelayProcess,
) -> None:
    async with (
        await ChatClient.connect(relay.ws) as ann,
        await ChatClient.connect(relay.ws) as bob,
    ):
        await bob.join("unsub")
        joined = await ann.join("unsub-home")
        await ann.subscribe("unsub")
        await bob.recv_type("member_add")
        await ann.unsubscribe("unsub")
        gone = await bob.recv_type("member_delete")
        assert gone == {"type": "member_delete", "room": "unsub", "id": joined.member["id"]}
        await bob.say("ann should not see this")
        await ann.say("ann is still at home")
        home = await ann.recv_type("messages")
        assert home["room"] == "unsub-home" and home["message"]["text"] == "ann is still at home"
        assert all(frame.get("room") != "unsub" for frame in ann.backlog)
        await ann.send({"type": "send", "text": "x", "room": "unsub"})
        refused = await ann.recv_type("error")
        assert refused["code"] == "not_subscribed" and refused["room"] == "unsub"


async def test_more_rooms_than_the_cap_is_too_many_rooms(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as ann:
        await ann.join("cap-0")
        await ann.subscribe("cap-1")
        await ann.subscribe("cap-2")
        await ann.send({"type": "subscribe", "room": "cap-3"})
        refused = await ann.recv_type("error")
        assert refused["code"] == "too_many_rooms" and refused["room"] == "cap-3"
        assert "MAX_ROOMS_PER_CONNECTION" in refused["detail"]
        await ann.unsubscribe("cap-1")
        assert (await ann.subscribe("cap-3")).welcome["room"] == "cap-3"


async def test_bad_room_frames_get_clear_errors(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as ann:
        await ann.send({"type": "subscribe", "room": "early"})
        assert (await ann.recv_type("error"))["code"] == "not_joined"
        await ann.join("bad-frames")
        cases = [
            ({"type": "subscribe"}, "bad_room"),
            ({"type": "subscribe", "room": "Not A Room"}, "bad_room"),
            ({"type": "subscribe", "room": "bad-frames"}, "already_joined"),
            ({"type": "subscribe", "room": "x", "since": "soon"}, "bad_frame"),
            ({"type": "unsubscribe", "room": "elsewhere"}, "not_subscribed"),
            ({"type": "join", "room": "again"}, "already_joined"),
            ({"type": "dance"}, "bad_frame"),
        ]
        for frame, code in cases:
            await ann.send(frame)
            error = await ann.recv_type("error")
            assert error["code"] == code, (frame, error)
        # Still usable after every refusal.
        assert (await ann.say("still here"))["room"] == "bad-frames"


async def test_closing_leaves_every_room(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as bob:
        await bob.join("close-1")
        await bob.subscribe("close-2")
        ann = await ChatClient.connect(relay.ws)
        joined = await ann.join("close-1")
        await ann.subscribe("close-2")
        await ann.close()
        rooms = set()
        for _ in range(2):
            gone = await bob.recv_type("member_delete")
            assert gone["id"] == joined.member["id"]
            rooms.add(gone["room"])
        assert rooms == {"close-1", "close-2"}


async def test_history_pages_go_back_oldest_first_until_complete(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as ann:
        await ann.join("paging")
        ids = [(await ann.say(f"m{i}"))["id"] for i in range(7)]
        await ann.send({"type": "history", "room": "paging", "before": ids[6], "limit": 4,
                        "ref": "p1"})  # fmt: skip
        page = await ann.recv_type("history_page")
        assert page["room"] == "paging" and page["ref"] == "p1"
        assert [m["id"] for m in page["messages"]] == ids[2:6]
        assert page["complete"] is False
        await ann.send({"type": "history", "room": "paging", "before": ids[2], "limit": 4})
        page = await ann.recv_type("history_page")
        assert [m["id"] for m in page["messages"]] == ids[:2] and page["complete"] is True
        for bad, code in (
            ({"limit": 0}, "bad_frame"),
            ({"limit": 101}, "bad_frame"),
            ({"before": None}, "bad_frame"),
            ({"room": "elsewhere"}, "not_subscribed"),
        ):
            frame = {"type": "history", "room": "paging", "before": ids[2], **bad}
            await ann.send({k: v for k, v in frame.items() if v is not None})
            assert (await ann.recv_type("error"))["code"] == code, bad


async def test_typing_reaches_the_others_once_per_interval_and_is_never_stored(
    relay: RelayProcess,
) -> None:
    async with (
        await ChatClient.connect(relay.ws) as ann,
        await ChatClient.connect(relay.ws) as bob,
    ):
        joined = await ann.join("typing-room")
        await bob.join("typing-room")
        for _ in range(5):  # within 2 s: one passes, the rest are dropped silently
            await ann.send({"type": "typing", "room": "typing-room"})
        first = await bob.recv_type("typing")
        assert first == {"type": "typing", "room": "typing-room", "member": joined.member["id"]}
        await ann.send({"type": "ping"})
        await ann.recv_type("pong")
        await bob.say("after the notices")
        assert not [f for f in bob.backlog if f["type"] == "typing"]
        assert not [f for f in ann.backlog if f["type"] in ("typing", "error")]
        async with await ChatClient.connect(relay.ws) as carol:
            history = (await carol.join("typing-room")).history
            assert [m["text"] for m in history["messages"]] == ["after the notices"]
