"""REDIS_PUBLISH_FORMAT: what a relay publishes on a room's channel during the two-step
upgrade (docs/operations.md). With the default, ``frame``, the payload is exactly the
protocol v1 frame a client receives, which is what relays of earlier releases forward as
it is; every relay reads both formats, the frame ones through a fast path for what
publish.lua builds and a JSON parse for anything else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from contract import settings as contract
from harness.client import ChatClient
from harness.relay import RelayProcess
from service import protocol
from service.broker import MemberJoined, Publication
from service.broker.redis.events import (
    DECODE_ERRORS,
    _decode_legacy_frame,
    _message_frame,
    decode,
)
from service.config import ConfigError, load_settings
from service.members import Member

ALICE = Member(id="a1a1a1a1a1a1a1a1", username='Al "Quote" \u00e9', avatar="/avatars/a1.svg")
ID = "1700000000123-4"
TEXTS = ["hi", 'quote " back \\ slash', "snow \u2603 \U0001f600 \u00e9", "}}", "x" * 4000]


# The setting.


def test_the_default_is_frame_which_earlier_releases_read() -> None:
    assert contract.REDIS_PUBLISH_FORMAT.default == "frame"
    assert load_settings({}).redis_publish_format == "frame"
    assert load_settings({"REDIS_PUBLISH_FORMAT": " Compact "}).redis_publish_format == "compact"


@pytest.mark.parametrize("raw", ["json", "", "frames", "v2"])
def test_a_bad_publish_format_is_refused_with_the_choices(raw: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"REDIS_PUBLISH_FORMAT": raw})
    message = str(error.value)
    assert message.startswith(f"REDIS_PUBLISH_FORMAT={raw!r} is not a publish format; use frame")
    assert "or compact" in message


# Reading a frame: the fast path and the JSON parse agree.


@pytest.mark.parametrize("text", TEXTS)
def test_the_fast_path_reads_what_publish_lua_builds_as_the_json_parse_does(text: str) -> None:
    body = protocol.message_body(ALICE.id, ALICE.username, ALICE.avatar, text)
    frame = protocol.message_frame(ID, body)  # the bytes publish.lua builds
    fast = _message_frame("r", frame)
    assert fast == Publication("r", ID, (1700000000123, 4), body)
    assert fast == _decode_legacy_frame("r", frame) == decode("r", frame)
    assert decode("r", frame) == decode("r", f"m{ID} {body}")


@pytest.mark.parametrize(
    "frame",
    [
        # Valid frames, not shaped exactly as publish.lua builds them: the JSON parse reads them.
        '{"type": "messages", "message": {"id": "1700000000123-4", "date": 1700000000123, "a": 1}}',
        '{"type":"messages","message":{"id":"1700000000123-4","date":5,"a":1}}',
        '{"type":"messages","message":{"id":"1700000000123-4","date":1700000000123,"a":1},"b":{}}',
    ],
)
def test_other_frames_fall_back_to_the_json_parse(frame: str) -> None:
    assert _message_frame("r", frame) is None
    event = decode("r", frame)
    assert isinstance(event, Publication)
    assert (event.message_id, event.body) == (ID, '"a":1')


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"messages","message":{"id":"1700000000123-4","date":1700000000123,}}',
        '{"type":"messages","message":{"id":"1700000000123-4","date":1700000000123,1}}',
        '{"type":"messages","message":{"id":"1700000000123-4","date":1700000000123,"a":1}',
        '{"type":"messages","message":{"id":"1700000000123-4","date":1700000000123,"a"}}',
        '{"type":"messages","message":{"id":"1-x","date":1,"a":1}}',
        '{"type":"messages","message":{"id":"99999999999999999999999-1",'
        '"date":99999999999999999999999,"a":1}}',
        '{"type":"messages","message":{"id":"1700000000123-4","date":1700000000123,"a":1},{"b":2}}',
    ],
)
def test_malformed_message_frames_are_still_refused(frame: str) -> None:
    with pytest.raises(DECODE_ERRORS):
        decode("r", frame)


def test_a_compact_event_without_a_body_is_refused() -> None:
    # It would splice a trailing comma into the client frame.
    with pytest.raises(DECODE_ERRORS):
        decode("r", f"m{ID} ")


# What a relay publishes on the room's channel.


@pytest.fixture
async def channel(redis_url: str) -> AsyncIterator[aioredis.client.PubSub]:
    """A plain redis-py subscriber on room ``upgrade``'s channel (keys.channel_of)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    pubsub = client.pubsub()
    await pubsub.subscribe("chat:{upgrade}")
    await pubsub.get_message(timeout=5)  # the subscribe confirmation
    yield pubsub
    await pubsub.aclose()
    await client.aclose()


async def published(pubsub: aioredis.client.PubSub) -> str:
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10)
    assert message is not None, "nothing published"
    data: str = message["data"]
    return data


async def raw_frame(client: ChatClient, kind: str) -> str:
    """The next frame of ``kind`` as the relay sent it, byte for byte."""
    while True:
        raw = await asyncio.wait_for(client.ws.recv(), 10)
        assert isinstance(raw, str)
        if orjson.loads(raw)["type"] == kind:
            return raw


@pytest.mark.anyio
@pytest.mark.parametrize("publish_format", [None, "compact"])
async def test_a_relay_publishes_what_its_format_says(
    redis_url: str, channel: aioredis.client.PubSub, publish_format: str | None
) -> None:
    env = {"REDIS_URL": redis_url}
    if publish_format is not None:
        env["REDIS_PUBLISH_FORMAT"] = publish_format
    with RelayProcess(env=env) as relay:
        async with await ChatClient.connect(relay.ws) as bob:
            b = await bob.join("upgrade")
            await published(channel)  # bob's own member_add
            alice = await ChatClient.connect(relay.ws)
            a = await alice.join("upgrade")
            wire = [await published(channel)]
            sent = [await raw_frame(bob, "member_add")]
            ack = await alice.say("across the upgrade")
            wire.append(await published(channel))
            sent.append(await raw_frame(bob, "messages"))
            await alice.close()
            wire.append(await published(channel))
            sent.append(await raw_frame(bob, "member_delete"))

    # The relay names a frame's room as it delivers it (many rooms on one connection); what
    # goes over Redis has no "room", as an earlier release's relays published it.
    bare = [frame.replace(',"room":"upgrade"', "", 1) for frame in sent]
    assert all('"room":"upgrade"' in frame for frame in sent)
    if publish_format is None:
        # What an earlier release's relay forwards to its clients as it is.
        assert wire == bare
    else:
        joined, message = decode("upgrade", sent[0]), decode("upgrade", sent[1])
        assert isinstance(joined, MemberJoined) and isinstance(message, Publication)
        # Member events are frames without history: the same in either format.
        assert wire == [bare[0], f"m{message.message_id} {message.body}", bare[2]]
    assert orjson.loads(sent[0])["member"] == a.member
    assert orjson.loads(sent[1])["message"]["id"] == ack["id"]
    assert orjson.loads(sent[2])["id"] == a.member["id"] != b.member["id"]
