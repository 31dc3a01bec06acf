"""The relay as users meet it: a real ``python -m service`` process, real WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.request

import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from contract.protocol import CLOSE_POLICY, CLOSE_TRY_AGAIN, HEALTH_PATH, READY_PATH
from harness.client import ChatClient
from harness.relay import RelayProcess

pytestmark = pytest.mark.anyio


def http_get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read(), response.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("content-type", "")


async def test_join_burst_then_live_messages(relay: RelayProcess) -> None:
    async with (
        await ChatClient.connect(relay.ws) as alice,
        await ChatClient.connect(relay.ws) as bob,
    ):
        a = await alice.join("lobby")
        assert a.welcome["room"] == "lobby"
        assert set(a.member) == {"id", "username", "avatar"}
        assert a.member["avatar"] == f"/avatars/{a.member['id']}.svg"
        assert list(a.members["members"]) == [a.member["id"]]
        assert a.history == {
            "type": "message_history",
            "room": "lobby",
            "messages": [],
            "complete": True,
        }

        b = await bob.join()  # room defaults to lobby
        assert set(b.members["members"]) == {a.member["id"], b.member["id"]}
        added = await alice.recv_type("member_add")
        assert added["member"] == b.member

        ack = await bob.say("hello <b>there</b>", ref="r-1")
        assert ack["ref"] == "r-1"
        for client in (alice, bob):
            message = (await client.recv_type("messages"))["message"]
            assert message["id"] == ack["id"]
            assert message["text"] == "hello <b>there</b>"
            assert message["member"] == b.member["id"]
            assert message["username"] == b.member["username"]
            assert message["avatar"] == b.member["avatar"]
            assert isinstance(message["date"], int)

    async with await ChatClient.connect(relay.ws) as carol:
        c = await carol.join("lobby")
        assert [m["text"] for m in c.history["messages"]] == ["hello <b>there</b>"]


async def test_leaving_sends_member_delete(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as alice:
        await alice.join("room-a")
        bob = await ChatClient.connect(relay.ws)
        b = await bob.join("room-a")
        await alice.recv_type("member_add")
        await bob.close()
        deleted = await alice.recv_type("member_delete")
        assert deleted["id"] == b.member["id"]


async def test_member_with_two_connections_leaves_with_the_last(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as watcher:
        await watcher.join("twice")
        first = await ChatClient.connect(relay.ws)
        joined = await first.join("twice")
        await watcher.recv_type("member_add")
        second = await ChatClient.connect(relay.ws)
        again = await second.join("twice", token=joined.token)
        assert again.member == joined.member
        await first.close()
        with pytest.raises(TimeoutError):
            await watcher.recv_type("member_delete", timeout=0.5)
        await second.close()
        assert (await watcher.recv_type("member_delete"))["id"] == joined.member["id"]


async def test_rooms_do_not_leak(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as a, await ChatClient.connect(relay.ws) as b:
        await a.join("red")
        await b.join("blue")
        await b.say("only blue")
        await a.say("only red")
        assert (await a.recv_type("messages"))["message"]["text"] == "only red"
        assert (await b.recv_type("messages"))["message"]["text"] == "only blue"
        with pytest.raises(TimeoutError):
            await a.recv_type("messages", timeout=0.3)


async def test_token_resumes_member_and_since_resumes_history(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as writer:
        await writer.join("resume")
        first = await ChatClient.connect(relay.ws)
        joined = await first.join("resume")
        ids = [(await writer.say(f"m{i}"))["id"] for i in range(3)]
        await first.close()
        for i in range(3, 5):
            ids.append((await writer.say(f"m{i}"))["id"])
        async with await ChatClient.connect(relay.ws) as back:
            resumed = await back.join("resume", token=joined.token, since=ids[2])
            assert resumed.member == joined.member
            assert resumed.token == joined.token
            assert [m["id"] for m in resumed.history["messages"]] == ids[3:]
            assert resumed.history["complete"] is True


async def test_unknown_token_gets_a_new_member(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as client:
        joined = await client.join("lobby", token="x" * 32)
        assert joined.token != "x" * 32


async def test_history_sent_on_join_is_bounded() -> None:
    with RelayProcess(env={"HISTORY_SIZE": "3", "HISTORY_MAX_LEN": "5"}) as relay:
        async with await ChatClient.connect(relay.ws) as writer:
            await writer.join("h")
            for i in range(8):
                await writer.say(f"m{i}")
            async with await ChatClient.connect(relay.ws) as reader:
                joined = await reader.join("h")
                assert [m["text"] for m in joined.history["messages"]] == ["m5", "m6", "m7"]
                first_id = joined.history["messages"][0]["id"]
            async with await ChatClient.connect(relay.ws) as late:
                # Resuming from long before what is kept: the gap is signalled.
                resumed = await late.join("h", since="1-0")
                assert resumed.history["complete"] is False
                assert resumed.history["messages"][0]["id"] >= first_id


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("this is not json", "bad_frame"),
        ('{"type":"dance"}', "bad_frame"),
        ('{"type":"send","text":""}', "empty_text"),
        ('{"type":"send","text":"' + "y" * 2001 + '"}', "too_long"),
        ('{"type":"send","text":"hi"}', "not_joined"),
        ('{"type":"join","room":"NO SPACES"}', "bad_room"),
    ],
)
async def test_bad_input_gets_an_error_and_the_connection_stays_usable(
    relay: RelayProcess, frame: str, code: str
) -> None:
    async with await ChatClient.connect(relay.ws) as client:
        await client.send(frame)
        error = await client.recv_type("error")
        assert error["code"] == code and error["detail"]
        joined = await client.join("after-error")
        assert joined.welcome["type"] == "welcome"
        await client.send("{broken")
        assert (await client.recv_type("error"))["code"] == "bad_frame"
        assert (await client.say("still here"))["type"] == "ack"


async def test_binary_frames_are_refused_cleanly(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as client:
        await client.ws.send(b"\x00\x01")
        assert (await client.recv_type("error"))["code"] == "bad_frame"
        await client.join("lobby")


async def test_second_join_is_refused(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as client:
        await client.join("one")
        await client.send({"type": "join", "room": "two"})
        assert (await client.recv_type("error"))["code"] == "already_joined"


async def test_ping_pong(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as client:
        await client.send({"type": "ping"})
        assert await client.recv() == {"type": "pong"}
        await client.join("lobby")
        await client.send({"type": "ping"})
        assert (await client.recv_type("pong")) == {"type": "pong"}


async def test_oversized_frame_closes_1009_and_neighbours_carry_on(relay: RelayProcess) -> None:
    async with (
        await ChatClient.connect(relay.ws, max_size=None) as big,
        await ChatClient.connect(relay.ws) as neighbour,
    ):
        await neighbour.join("lobby")
        await big.join("lobby")
        await big.send('{"type":"send","text":"' + "z" * 70_000 + '"}')
        assert await big.closed_with() == 1009
        assert (await neighbour.say("unaffected"))["type"] == "ack"


async def test_no_join_within_timeout_closes_1008() -> None:
    with RelayProcess(env={"JOIN_TIMEOUT": "0.5"}) as relay:
        async with await ChatClient.connect(relay.ws) as client:
            assert await client.closed_with(timeout=5) == CLOSE_POLICY


async def test_rate_limit() -> None:
    with RelayProcess(env={"RATE_LIMIT": "5", "RATE_BURST": "5"}) as relay:
        async with await ChatClient.connect(relay.ws) as client:
            await client.join("lobby")
            for i in range(20):
                await client.send({"type": "send", "text": f"flood {i}"})
            error = await client.recv_type("error")
            assert error["code"] == "rate_limited"
            await asyncio.sleep(1.2)
            assert (await client.say("after a pause"))["type"] == "ack"


async def test_sustained_abuse_closes_1008() -> None:
    with RelayProcess(env={"RATE_LIMIT": "1", "RATE_BURST": "2"}) as relay:
        async with await ChatClient.connect(relay.ws) as client:
            await client.join("lobby")
            with contextlib.suppress(ConnectionClosed):
                for _ in range(200):
                    await client.send({"type": "ping"})
            assert await client.closed_with() == CLOSE_POLICY


async def test_foreign_origin_is_refused(relay: RelayProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await ChatClient.connect(relay.ws, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    for origin in ("null", f"http://127.0.0.1:{relay.port}.evil.example"):
        with pytest.raises(InvalidStatus):
            await ChatClient.connect(relay.ws, origin=origin)
    async with await ChatClient.connect(relay.ws, origin=relay.http) as same_host:
        await same_host.join("lobby")


async def test_allow_list_is_exact() -> None:
    allowed = "https://chat.example.com"
    with RelayProcess(env={"ALLOWED_ORIGINS": allowed}) as relay:
        async with await ChatClient.connect(relay.ws, origin=allowed) as client:
            await client.join("lobby")
        for origin in ("https://chat.example.com.evil.example", relay.http):
            with pytest.raises(InvalidStatus):
                await ChatClient.connect(relay.ws, origin=origin)
        with pytest.raises(InvalidStatus):
            await ChatClient.connect(relay.ws)  # no Origin at all


async def test_slow_consumer_is_closed_and_others_keep_receiving() -> None:
    env = {"SEND_BUFFER_BYTES": "262144", "RATE_LIMIT": "100000", "RATE_BURST": "100000"}
    total = 8000  # 16 MB: more than loopback socket buffers hold for the stalled reader
    with RelayProcess(env=env) as relay:
        slow = await ChatClient.connect(relay.ws, max_queue=1)
        await slow.join("lobby")
        async with (
            await ChatClient.connect(relay.ws) as sender,
            await ChatClient.connect(relay.ws) as reader,
        ):
            await sender.join("lobby")
            await reader.join("lobby")
            counts = [0, 0]

            async def count_messages(client: ChatClient, slot: int) -> None:
                while counts[slot] < total:
                    counts[slot] += (await client.recv())["type"] == "messages"

            readers = [
                asyncio.create_task(count_messages(c, i)) for i, c in enumerate((sender, reader))
            ]
            # The slow client reads nothing: kernel buffers fill, then its queue, then it is
            # closed. The sender paces itself on the healthy readers so they never lag far.
            text = "x" * 1990
            for i in range(total):
                while i - min(counts) > 100:  # noqa: ASYNC110 - pacing, not signalling
                    await asyncio.sleep(0.001)
                await sender.send({"type": "send", "text": f"{i} {text}"})
            await asyncio.wait_for(asyncio.gather(*readers), 60)
            assert counts == [total, total]
        # Reading now drains what the kernel held; the close frame comes after it.
        assert await slow.closed_with(timeout=30) == CLOSE_TRY_AGAIN


def test_health_readiness_avatar_and_page(relay: RelayProcess) -> None:
    assert http_get(f"{relay.http}{HEALTH_PATH}")[0] == 200
    status, body, _ = http_get(f"{relay.http}{READY_PATH}")
    assert status == 200 and orjson.loads(body)["broker"] == "memory"
    status, body, content_type = http_get(f"{relay.http}/avatars/0123456789abcdef.svg")
    assert status == 200 and content_type.startswith("image/svg+xml") and b"<svg" in body
    assert http_get(f"{relay.http}/avatars/not-a-member.svg")[0] == 404
    status, body, content_type = http_get(f"{relay.http}/")
    assert status == 200 and content_type.startswith("text/html")


def test_bad_setting_stops_the_process_with_a_clear_message() -> None:
    relay = RelayProcess(env={"HISTORY_SIZE": "lots"})
    with pytest.raises(RuntimeError, match="HISTORY_SIZE='lots' is not a whole number"):
        relay.start(timeout=20)
    relay.stop()
