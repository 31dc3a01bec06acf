"""Clients that go away and come back (issue 5, case 6), and retries after a lost ack."""

from __future__ import annotations

import asyncio

import pytest

from harness.client import ChatClient
from harness.relay import RelayProcess
from tests.support.figures import report

pytestmark = pytest.mark.anyio


@pytest.fixture
def relays(redis_url: str):
    env = {"REDIS_URL": redis_url, "RATE_LIMIT": "1000", "RATE_BURST": "1000",
           "HISTORY_SIZE": "20", "HISTORY_MAX_LEN": "100"}  # fmt: skip
    with RelayProcess(env=env) as one, RelayProcess(env=env) as two:
        yield one, two


async def test_offline_ten_seconds_resumes_gap_free_on_another_relay(relays) -> None:
    one, two = relays
    async with await ChatClient.connect(one.ws) as writer:
        await writer.join("away")
        away = await ChatClient.connect(one.ws)
        joined = await away.join("away")
        last = (await writer.say("before"))["id"]
        assert (await away.recv_type("messages"))["message"]["id"] == last
        await away.close()
        missed = []
        for i in range(10):  # ten messages over ten seconds
            missed.append((await writer.say(f"while away {i}"))["id"])
            await asyncio.sleep(1.0)
    async with await ChatClient.connect(two.ws) as back:
        resumed = await back.join("away", token=joined.token, since=last)
    assert resumed.member == joined.member
    assert [m["id"] for m in resumed.history["messages"]] == missed
    assert resumed.history["complete"] is True
    report("offline-10s", missed=len(missed), recovered=len(resumed.history["messages"]))


async def test_offline_longer_than_history_covers_gets_the_loss_signal(relays) -> None:
    one, two = relays
    async with await ChatClient.connect(one.ws) as writer:
        await writer.join("long-away")
        last = (await writer.say("before"))["id"]
        for i in range(400):  # far past HISTORY_MAX_LEN=100 (trimming is by stream node)
            await writer.send({"type": "send", "text": f"m{i}"})
        newest = None
        for _ in range(400):
            newest = (await writer.recv_type("ack"))["id"]
    async with await ChatClient.connect(two.ws) as back:
        resumed = await back.join("long-away", since=last)
    history = resumed.history
    assert history["complete"] is False
    assert len(history["messages"]) == 20  # HISTORY_SIZE newest
    assert history["messages"][-1]["id"] == newest
    report("offline-past-history", sent_while_away=400, sent_back=20, complete=False)


async def test_retry_after_a_lost_ack_stores_once(relays) -> None:
    """The client sends, loses the connection before the ack, reconnects elsewhere and
    retries with the same ref: one stored message, the same id acknowledged."""
    one, two = relays
    first = await ChatClient.connect(one.ws)
    joined = await first.join("retry")
    await first.send({"type": "send", "text": "only once", "ref": "r-42"})
    await first.close()  # the ack, if any, is never read
    async with await ChatClient.connect(two.ws) as again:
        await again.join("retry", token=joined.token)
        ack = await again.say("only once", ref="r-42")
        ack2 = await again.say("only once", ref="r-42")
    async with await ChatClient.connect(one.ws) as reader:
        history = (await reader.join("retry")).history["messages"]
    assert [m["text"] for m in history] == ["only once"]
    assert ack["id"] == ack2["id"] == history[0]["id"]
