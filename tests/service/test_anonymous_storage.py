"""Anonymous clients cannot fill Redis for long (issue 27, item 2): an identity that never
sent a message lives IDENTITY_UNUSED_TTL (1 h), its first message extends it."""

from __future__ import annotations

import asyncio

import pytest

from contract.settings import IDENTITY_TTL_DAYS
from harness.client import ChatClient
from harness.redis_server import RedisServer
from harness.relay import RelayProcess

pytestmark = pytest.mark.anyio

HOUR = 3600
JOINS = 300


async def join_and_leave(relay: RelayProcess, room: str) -> str:
    async with await ChatClient.connect(relay.ws) as client:
        return (await client.join(room)).token


async def test_token_less_joins_that_never_send_leave_nothing_for_long(
    redis_url: str, redis_server: RedisServer
) -> None:
    with RelayProcess({"REDIS_URL": redis_url}) as relay:
        for batch in range(JOINS // 25):
            await asyncio.gather(*(join_and_leave(relay, f"flood-{batch}-{i}") for i in range(25)))
        async with await ChatClient.connect(relay.ws) as speaker:
            spoke = await speaker.join("lobby")
            await speaker.say("hello", ref="r1")
            await asyncio.sleep(0.2)
    client = redis_server.client()
    try:
        ttls = {key: client.ttl(key) for key in client.scan_iter(count=1000)}
    finally:
        client.close()
    long_lived = [k for k, ttl in ttls.items() if ttl == -1 or ttl > HOUR]
    assert len(ttls) >= JOINS  # the identities are there, for a while
    # The speaker's identity (and nothing of the 300 silent ones) lives longer than an hour.
    assert len(long_lived) <= 5, long_lived[:10]
    speaker_key = f"chat:identity:{spoke.token}".encode()
    speaker_ttl = ttls.get(speaker_key) or ttls.get(speaker_key.decode())  # type: ignore[call-overload]
    assert speaker_ttl is not None and speaker_ttl > IDENTITY_TTL_DAYS.default * 86400 - 60
