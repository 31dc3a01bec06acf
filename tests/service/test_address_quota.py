"""New anonymous identities per client address (issue 27, item 2): the address is the one
the proxy reports (TRUSTED_PROXY_HOPS), and past NEW_IDENTITIES_PER_MINUTE a token-less join
is refused; a join with a token still works."""

from __future__ import annotations

import pytest

from harness.client import ChatClient
from harness.relay import RelayProcess
from service.address_quota import AddressQuota, client_address

pytestmark = pytest.mark.anyio


def test_the_client_address_is_the_trusted_proxys_entry() -> None:
    headers = {"x-forwarded-for": "6.6.6.6, 203.0.113.7"}  # the client wrote the first
    assert client_address(headers, "10.0.0.5", 1) == "203.0.113.7"
    assert client_address(headers, "10.0.0.5", 2) == "6.6.6.6"
    assert client_address(headers, "10.0.0.5", 0) == "10.0.0.5"  # no proxy: the peer
    assert client_address({}, "10.0.0.5", 1) == "10.0.0.5"


def test_a_quota_counts_per_address() -> None:
    quota = AddressQuota(2)
    assert [quota.allow("a") for _ in range(3)] == [True, True, False]
    assert quota.allow("b")
    assert all(AddressQuota(0).allow("a") for _ in range(100))


async def test_new_identities_per_address_are_bounded() -> None:
    env = {"NEW_IDENTITIES_PER_MINUTE": "3", "TRUSTED_PROXY_HOPS": "1"}
    with RelayProcess(env) as relay:

        def xff(address: str) -> dict[str, dict[str, str]]:
            return {"additional_headers": {"X-Forwarded-For": f"6.6.6.6, {address}"}}

        tokens = []
        for _ in range(3):
            async with await ChatClient.connect(relay.ws, **xff("198.51.100.1")) as client:
                tokens.append((await client.join("lobby")).token)
        async with await ChatClient.connect(relay.ws, **xff("198.51.100.1")) as client:
            await client.send({"type": "join", "room": "lobby"})
            error = await client.recv()
            assert (error["type"], error["code"]) == ("error", "rate_limited")
            assert await client.closed_with() == 1013
        # The same address with its token, and another address, still join.
        async with await ChatClient.connect(relay.ws, **xff("198.51.100.1")) as client:
            assert (await client.join("lobby", token=tokens[0])).token == tokens[0]
        async with await ChatClient.connect(relay.ws, **xff("198.51.100.2")) as client:
            await client.join("lobby")


async def test_rooms_started_per_address_are_bounded() -> None:
    with RelayProcess({"NEW_ROOMS_PER_MINUTE": "2"}) as relay:
        for room in ("fresh-1", "fresh-2"):
            async with await ChatClient.connect(relay.ws) as client:
                await client.join(room)
                await client.say("first", ref="r1")
        async with await ChatClient.connect(relay.ws) as client:
            await client.join("fresh-3")
            await client.send({"type": "send", "text": "first", "ref": "r1"})
            error = await client.recv_type("error")
            assert error["code"] == "rate_limited" and "new rooms" in error["detail"]
        async with await ChatClient.connect(relay.ws) as client:  # a room with history
            await client.join("fresh-1")
            await client.say("more", ref="r2")
