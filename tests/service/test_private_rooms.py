"""Private rooms: ``private-`` rooms need a ``room_token`` (HS256 JWT, ROOM_TOKEN_SECRET)
for that room, unexpired; anything else is ``forbidden`` and the connection stays usable."""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
import pytest

from harness.client import ChatClient
from service.room_tokens import RoomTokens
from tests.service.conftest import ROOM_SECRET, Deployment

pytestmark = pytest.mark.anyio


def private_room() -> str:
    return f"private-{secrets.token_hex(4)}"


def mint(room: str, secret: str = ROOM_SECRET, **claims: Any) -> str:
    """What a product's backend does (docs/protocol.md shows the same)."""
    payload = {"room": room, "exp": int(time.time()) + 300, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, "HS256")


async def refused(client: ChatClient, room: str, **fields: Any) -> dict[str, Any]:
    await client.send({"type": "join", "room": room, **fields})
    return await client.recv()


async def test_a_valid_room_token_joins_and_the_api_reaches_the_room(
    deployment: Deployment,
) -> None:
    room = private_room()
    async with (
        await ChatClient.connect(deployment.member_ws) as alice,
        await ChatClient.connect(deployment.ws_urls[0]) as bob,
        deployment.api() as api,
    ):
        await alice.join(room, room_token=mint(room))
        await bob.join(room, room_token=mint(room))
        ack = await bob.say("hello in private")
        assert (await alice.recv_type("messages"))["message"]["id"] == ack["id"]
        posted = await api.post(f"/api/v1/rooms/{room}/messages", json={"text": "from the app"})
        assert posted.status_code == 201
        assert (await alice.recv_type("messages"))["message"]["text"] == "from the app"
        members = (await api.get(f"/api/v1/rooms/{room}/members")).json()["members"]
        assert len(members) == 2


@pytest.mark.parametrize(
    "token",
    [
        None,
        "not-a-jwt",
        "other-room",
        "expired",
        "no-exp",
        "no-room",
        "wrong-secret",
        "none-alg",
    ],
)
async def test_anything_but_a_valid_token_is_forbidden_and_the_connection_stays_usable(
    deployment: Deployment, token: str | None
) -> None:
    room = private_room()
    tokens = {
        None: None,
        "not-a-jwt": "not-a-jwt",
        "other-room": mint(private_room()),
        "expired": mint(room, exp=int(time.time()) - 5),
        "no-exp": mint(room, exp=None),
        "no-room": mint(None, exp=int(time.time()) + 300),  # type: ignore[arg-type]
        "wrong-secret": mint(room, secret="another-secret-0123456789abcdef0123"),
        "none-alg": jwt.encode({"room": room, "exp": int(time.time()) + 300}, None, "none"),
    }
    fields = {} if tokens[token] is None else {"room_token": tokens[token]}
    async with (
        await ChatClient.connect(deployment.member_ws) as intruder,
        await ChatClient.connect(deployment.member_ws) as insider,
    ):
        await insider.join(room, room_token=mint(room))
        answer = await refused(intruder, room, **fields)
        assert (answer["type"], answer["code"]) == ("error", "forbidden"), answer
        assert answer["detail"]
        # Not joined: the intruder is no member and hears nothing of the room.
        await insider.say("secret")
        await intruder.send({"type": "send", "text": "let me in"})
        assert (await intruder.recv())["code"] == "not_joined"
        # Usable: the same connection joins with a valid token afterwards.
        joined = await intruder.join(room, room_token=mint(room))
        assert [m["text"] for m in joined.history["messages"]] == ["secret"]


async def test_other_rooms_need_no_token(deployment: Deployment) -> None:
    async with await ChatClient.connect(deployment.member_ws) as person:
        joined = await person.join(f"public-{secrets.token_hex(3)}")
        assert joined.welcome["type"] == "welcome"


def test_a_signed_in_person_needs_a_token_issued_to_them() -> None:
    """With sign-in on, the token's ``sub`` must be the signed-in identity's."""
    tokens = RoomTokens(ROOM_SECRET)
    room = private_room()
    assert tokens.refusal(room, mint(room, sub="alice"), subject="alice") is None
    assert tokens.refusal(room, mint(room, sub="bob"), subject="alice") is not None
    assert tokens.refusal(room, mint(room), subject="alice") is not None
    assert tokens.refusal(room, mint(room), subject=None) is None  # sign-in off: no sub needed


def test_without_a_secret_private_rooms_refuse() -> None:
    room = private_room()
    detail = RoomTokens(None).refusal(room, mint(room), subject=None)
    assert detail is not None and "ROOM_TOKEN_SECRET" in detail
    assert RoomTokens(None).refusal("lobby", None, subject=None) is None
