"""Hostile input (issue 5, case 9): floods, oversized and malformed frames, invalid UTF-8,
deep JSON and Hypothesis-generated frames. The process survives, every answer is a clean
protocol frame, and a neighbour in the same room keeps chatting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from contract.protocol import ERROR_CODES
from harness.client import ChatClient
from harness.relay import RelayProcess
from loadtest.wire import encode_frame
from tests.support.figures import report

KNOWN_TYPES = {
    "welcome", "member_history", "message_history", "messages", "member_add",
    "member_delete", "ack", "error", "pong", "resync", "history_page", "typing",
}  # fmt: skip


@pytest.fixture(scope="module")
def relay() -> Iterator[RelayProcess]:
    # A generous rate limit: the fuzzer sends fast on purpose, the flood test has its own.
    with RelayProcess(env={"RATE_LIMIT": "100000", "RATE_BURST": "100000"}) as process:
        yield process


def assert_clean(frame_text: str | bytes) -> dict:
    assert isinstance(frame_text, str), "the relay sends text frames only"
    frame = json.loads(frame_text)
    assert frame["type"] in KNOWN_TYPES, frame
    if frame["type"] == "error":
        assert frame["code"] in ERROR_CODES and frame["detail"], frame
    return frame


def round_trip(ws: ClientConnection, raw: str | bytes) -> list[dict]:
    """Send ``raw``, then a ping; everything up to the pong is the relay's answer."""
    ws.send(raw)
    ws.send('{"type":"ping"}')
    answers = []
    while True:
        frame = assert_clean(ws.recv(timeout=10))
        if frame["type"] == "pong":
            return answers
        answers.append(frame)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["join", "send", "ping", "pong", "JOIN", ""])},
        optional={
            "room": json_values | st.text(max_size=80),
            "text": json_values | st.text(max_size=2100),
            "ref": json_values,
            "token": json_values | st.text(max_size=40),
            "since": json_values | st.from_regex(r"\d{1,25}-\d{1,25}", fullmatch=True),
        },
    ).map(json.dumps),
    st.binary(max_size=64),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames, joined=st.booleans())
def test_fuzzed_frames_get_clean_answers(relay: RelayProcess, frame: str | bytes, joined: bool):
    with connect(relay.ws, compression=None, open_timeout=10) as ws:
        if joined:
            ws.send('{"type":"join","room":"fuzz"}')
            for _ in range(3):
                assert_clean(ws.recv(timeout=10))
        answers = round_trip(ws, frame)
        for answer in answers:
            assert answer["type"] in {"error", "ack", "messages", "member_add", "member_delete",
                                      "welcome", "member_history", "message_history"}  # fmt: skip
        # Still usable afterwards.
        assert round_trip(ws, '{"type":"ping"}') == []


@pytest.mark.anyio
async def test_abuse_leaves_neighbours_unaffected(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as neighbour:
        await neighbour.join("abused")
        baseline = [await timed_say(neighbour, f"before {i}") for i in range(20)]

        # Invalid UTF-8 in a text frame: the WebSocket layer closes with 1007.
        bad_utf8 = await ChatClient.connect(relay.ws)
        await bad_utf8.join("abused")
        bad_utf8.ws.transport.write(encode_frame(0x1, b'{"type":"send","text":"\xc3\x28"}'))
        utf8_code = await bad_utf8.closed_with()

        # Deep JSON inside the size limit: a clean bad_frame, the connection stays.
        deep = await ChatClient.connect(relay.ws)
        await deep.send("[" * 30_000 + "]" * 30_000)
        deep_error = (await deep.recv_type("error"))["code"]
        await deep.join("abused")
        await deep.close()

        # Oversized: 1009.
        big = await ChatClient.connect(relay.ws, max_size=None)
        await big.join("abused")
        await big.send('{"type":"send","text":"' + "z" * 70_000 + '"}')
        big_code = await big.closed_with()

        during = [await timed_say(neighbour, f"after {i}") for i in range(20)]
        history = (await (await ChatClient.connect(relay.ws)).join("abused")).history
    assert utf8_code == 1007
    assert deep_error == "bad_frame"
    assert big_code == 1009
    texts = [m["text"] for m in history["messages"]]
    assert texts == [f"before {i}" for i in range(20)] + [f"after {i}" for i in range(20)]
    report(
        "abuse-neighbour",
        neighbour_ack_median_ms_before=round(sorted(baseline)[10], 2),
        neighbour_ack_median_ms_after=round(sorted(during)[10], 2),
        invalid_utf8_close=utf8_code,
        deep_json=deep_error,
        oversized_close=big_code,
    )


async def timed_say(client: ChatClient, text: str) -> float:
    started = time.perf_counter()
    await client.say(text)
    return (time.perf_counter() - started) * 1000


@pytest.mark.anyio
async def test_flood_at_ten_times_the_rate_limit() -> None:
    """10 frames/s allowed; a client sends 100/s for 3 s. Excess is dropped with a notice,
    the flooder is not served beyond its rate, and a neighbour's messages flow."""
    with RelayProcess(env={"RATE_LIMIT": "10", "RATE_BURST": "20"}) as relay:
        async with (
            await ChatClient.connect(relay.ws) as neighbour,
            await ChatClient.connect(relay.ws) as flooder,
        ):
            await neighbour.join("flood")
            await flooder.join("flood")
            for i in range(300):
                await flooder.send({"type": "send", "text": f"flood {i}"})
                await asyncio.sleep(0.01)
            ack = await neighbour.say("neighbour still heard")
            stored = [m["text"] for m in (await neighbour_history(relay, "flood"))]
            errors = [f for f in flooder.backlog if f["type"] == "error"]
            while True:
                try:
                    frame = await flooder.recv(timeout=1)
                except TimeoutError:
                    break
                if frame["type"] == "error":
                    errors.append(frame)
    flood_stored = [t for t in stored if t.startswith("flood")]
    assert ack["type"] == "ack" and "neighbour still heard" in stored
    # 3 s at 10/s plus the burst of 20: about 50 get through, never the 300 sent.
    assert 20 <= len(flood_stored) <= 70, len(flood_stored)
    assert errors and {e["code"] for e in errors} == {"rate_limited"}
    report("flood-10x", sent=300, stored=len(flood_stored), rate_limited_notices=len(errors))


async def neighbour_history(relay: RelayProcess, room: str) -> list[dict]:
    async with await ChatClient.connect(relay.ws) as reader:
        return (await reader.join(room)).history["messages"]


# Issue 15: ids Redis refuses as stream ids passed the relay's check and dropped the
# connection (1006) with a traceback. Redis accepts ASCII digits, each part <= 2^64-1.
UNSTORABLE_SINCE = [
    "99999999999999999999-0",
    "18446744073709551616-0",
    "\u0661\u0662-\u0660",  # Arabic-Indic digits
    "\uff11\uff17-\uff10",  # fullwidth digits
]


@pytest.mark.anyio
async def test_since_redis_refuses_is_a_bad_frame_in_redis_mode(redis_url: str) -> None:
    env = {"REDIS_URL": redis_url, "LOG_LEVEL": "warning"}
    with RelayProcess(env=env) as relay:
        async with await ChatClient.connect(relay.ws) as client:
            await client.join("since")
            stored = (await client.say("kept"))["id"]
        async with await ChatClient.connect(relay.ws) as client:
            for since in UNSTORABLE_SINCE:
                await client.send({"type": "join", "room": "since", "since": since})
                error = await client.recv_type("error")
                assert error["code"] == "bad_frame" and "2^64-1" in error["detail"], since
            # The largest id Redis accepts is answered (nothing can follow it).
            largest = await client.join("since", since=f"{2**64 - 1}-{2**64 - 1}")
            assert largest.history["messages"] == [] and not largest.history["complete"]
        async with await ChatClient.connect(relay.ws) as client:
            resumed = await client.join("since", since="0-1")
            assert [m["id"] for m in resumed.history["messages"]] == [stored]
        assert "Traceback" not in relay.output()
