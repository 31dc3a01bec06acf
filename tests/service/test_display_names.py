"""Anonymous mode: a name a person chooses, sent on ``join``, kept with the resume token."""

from __future__ import annotations

import pytest

from harness.client import ChatClient
from harness.relay import RelayProcess

pytestmark = pytest.mark.anyio


async def test_a_chosen_name_is_kept_with_the_token_in_every_room(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as ada:
        first = await ada.join("lobby", name="  Ada  ")
        assert first.member["username"] == "Ada"
        ack = await ada.say("hello")
        message = (await ada.recv_type("messages"))["message"]
        assert (message["id"], message["username"]) == (ack["id"], "Ada")
    async with await ChatClient.connect(relay.ws) as again:
        resumed = await again.join("elsewhere", token=first.token)  # no name: the token's
        assert resumed.member == first.member


async def test_others_see_the_chosen_name_and_a_rename(relay: RelayProcess) -> None:
    async with (
        await ChatClient.connect(relay.ws) as watcher,
        await ChatClient.connect(relay.ws) as tab1,
        await ChatClient.connect(relay.ws) as tab2,
    ):
        await watcher.join("names")
        joined = await tab1.join("names", name="Grace")
        assert (await watcher.recv_type("member_add"))["member"]["username"] == "Grace"
        # The same person renames from another tab while the first is still in the room.
        renamed = await tab2.join("names", token=joined.token, name="Grace H.")
        assert renamed.member["id"] == joined.member["id"]
        added = await watcher.recv_type("member_add")
        assert added["member"] == renamed.member
        assert (await tab1.recv_type("member_add"))["member"]["username"] == "Grace H."


async def test_a_bad_name_is_refused_and_the_connection_can_join(relay: RelayProcess) -> None:
    async with await ChatClient.connect(relay.ws) as client:
        await client.send({"type": "join", "name": "bad\nname"})
        error = await client.recv()
        assert error["type"] == "error" and error["code"] == "bad_name"
        await client.send({"type": "send", "text": "hi"})
        assert (await client.recv())["code"] == "not_joined"
        joined = await client.join("lobby", name="fine")
        assert joined.member["username"] == "fine"


async def test_a_name_with_bidi_controls_is_refused(relay: RelayProcess) -> None:
    """ "Bob\u202egnp.exe" would show as "Bobexe.png": the override reorders what follows."""
    async with await ChatClient.connect(relay.ws) as client:
        for control in ("\u202e", "\u2067"):
            await client.send({"type": "join", "name": f"Bob{control}gnp.exe"})
            error = await client.recv()
            assert error["type"] == "error" and error["code"] == "bad_name"
            assert "bidi" in error["detail"]
