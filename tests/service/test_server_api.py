"""The server HTTP API against real relays: in memory mode, and as two relays over one
redis-server with the API called on one and members connected to the other."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

from contract.protocol import API_MAX_BODY_BYTES, CLOSE_DISCONNECTED, MAX_TEXT_CHARS
from harness.client import ChatClient
from harness.relay import RelayProcess
from tests.service.conftest import API_ENV, API_KEY, OTHER_KEY, Deployment

pytestmark = pytest.mark.anyio


def room_name() -> str:
    return f"api-{secrets.token_hex(4)}"


def messages_path(room: str) -> str:
    return f"/api/v1/rooms/{room}/messages"


async def test_a_post_reaches_members_on_every_relay_and_stays_in_history(
    deployment: Deployment,
) -> None:
    room = room_name()
    async with await ChatClient.connect(deployment.member_ws) as member, deployment.api() as api:
        await member.join(room)
        answer = await api.post(messages_path(room), json={"text": " shipped ", "username": "Bot"})
        assert answer.status_code == 201, answer.text
        message_id = answer.json()["id"]
        assert answer.json() == {"id": message_id}
        live = (await member.recv_type("messages"))["message"]
        assert (live["id"], live["username"], live["text"]) == (message_id, "Bot", "shipped")
        async with await ChatClient.connect(deployment.ws_urls[0]) as late:
            history = (await late.join(room)).history["messages"]
        assert [m["id"] for m in history] == [message_id]
        assert history[0] == live


async def test_the_same_idempotency_key_returns_the_first_id_and_stores_nothing_new(
    deployment: Deployment,
) -> None:
    room = room_name()
    body = {"text": "once", "username": "Bot", "idempotency_key": "order-42"}
    async with deployment.api() as api:
        first = await api.post(messages_path(room), json=body)
        again = await api.post(messages_path(room), json={**body, "text": "twice?"})
        other = await api.post(messages_path(room), json={**body, "idempotency_key": "order-43"})
    assert first.status_code == again.status_code == other.status_code == 201
    assert again.json() == first.json()
    assert other.json() != first.json()
    async with await ChatClient.connect(deployment.member_ws) as member:
        history = (await member.join(room)).history["messages"]
    assert [m["text"] for m in history] == ["once", "once"]


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/api/v1/rooms/Not%20A%20Room/messages", {"text": "x"}, "bad_room"),
        (None, {"text": "   "}, "bad_text"),
        (None, {"text": "x" * (MAX_TEXT_CHARS + 1)}, "bad_text"),
        (None, {"text": 5}, "bad_text"),
        (None, {"username": "x"}, "bad_text"),
        (None, {"text": "x", "username": "two\nlines"}, "bad_name"),
        (None, {"text": "x", "username": "x" * 41}, "bad_name"),
        (None, {"text": "x", "idempotency_key": "k" * 65}, "bad_body"),
        (None, [1, 2], "bad_body"),
        (None, b"{not json", "bad_body"),
    ],
)
async def test_a_bad_post_is_a_400_that_says_what_to_fix(
    deployment: Deployment, path: str | None, body: object, code: str
) -> None:
    async with deployment.api() as api:
        target = path or messages_path(room_name())
        if isinstance(body, bytes):
            answer = await api.post(target, content=body)
        else:
            answer = await api.post(target, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == code
    assert answer.json()["detail"]


async def test_members_lists_everyone_in_the_room_on_every_relay(deployment: Deployment) -> None:
    room = room_name()
    async with (
        await ChatClient.connect(deployment.ws_urls[0]) as alice,
        await ChatClient.connect(deployment.member_ws) as bob,
        deployment.api() as api,
    ):
        a = await alice.join(room)
        b = await bob.join(room)
        answer = await api.get(f"/api/v1/rooms/{room}/members")
        assert answer.status_code == 200
        assert answer.json() == {"members": {a.member["id"]: a.member, b.member["id"]: b.member}}
        empty = await api.get(f"/api/v1/rooms/{room_name()}/members")
        assert empty.json() == {"members": {}}
        bad = await api.get("/api/v1/rooms/-x/members")
        assert (bad.status_code, bad.json()["error"]) == (400, "bad_room")


async def test_disconnect_closes_every_connection_of_the_member_with_4003(
    deployment: Deployment,
) -> None:
    async with (
        await ChatClient.connect(deployment.member_ws) as first,
        await ChatClient.connect(deployment.ws_urls[0]) as other_person,
        deployment.api() as api,
    ):
        joined = await first.join(room_name())
        await other_person.join(room_name())
        async with await ChatClient.connect(deployment.ws_urls[0]) as second_tab:
            await second_tab.join(room_name(), token=joined.token)
            member_id = joined.member["id"]
            answer = await api.post(f"/api/v1/members/{member_id}/disconnect")
            assert (answer.status_code, answer.json()) == (200, {"closed": 2})
            assert await first.closed_with() == CLOSE_DISCONNECTED
            assert await second_tab.closed_with() == CLOSE_DISCONNECTED
        # Nobody else was touched, and without a ban the member may come back at once.
        await other_person.send({"type": "ping"})
        assert (await other_person.recv_type("pong"))["type"] == "pong"
        async with await ChatClient.connect(deployment.member_ws) as back:
            again = await back.join(room_name(), token=joined.token)
            assert again.member["id"] == member_id
        nobody = await api.post(f"/api/v1/members/{'0' * 16}/disconnect", json={})
        assert nobody.json() == {"closed": 0}


async def test_a_banned_member_gets_banned_on_join_until_the_ban_ends(
    deployment: Deployment,
) -> None:
    async with await ChatClient.connect(deployment.member_ws) as person, deployment.api() as api:
        joined = await person.join(room_name())
        member_id = joined.member["id"]
        answer = await api.post(f"/api/v1/members/{member_id}/disconnect", json={"ban_seconds": 2})
        assert answer.json() == {"closed": 1}
        assert await person.closed_with() == CLOSE_DISCONNECTED
    for url in deployment.ws_urls:
        async with await ChatClient.connect(url) as comeback:
            await comeback.send({"type": "join", "room": room_name(), "token": joined.token})
            refused = await comeback.recv()
            assert (refused["type"], refused["code"]) == ("error", "banned"), refused
            # Not joined, and the connection stays usable: a new member may join on it.
            fresh = await comeback.join(room_name())
            assert fresh.member["id"] != member_id
    await asyncio.sleep(2.2)
    async with await ChatClient.connect(deployment.member_ws) as later:
        assert (await later.join(room_name(), token=joined.token)).member["id"] == member_id


@pytest.mark.parametrize(
    ("member_id", "body", "code"),
    [
        ("not-a-member", {}, "bad_id"),
        ("0123456789ABCDEF", {}, "bad_id"),
        ("0123456789abcdef", {"ban_seconds": -1}, "bad_body"),
        ("0123456789abcdef", {"ban_seconds": 86_401}, "bad_body"),
        ("0123456789abcdef", {"ban_seconds": "60"}, "bad_body"),
        ("0123456789abcdef", {"ban_seconds": True}, "bad_body"),
    ],
)
async def test_a_bad_disconnect_is_a_400(
    deployment: Deployment, member_id: str, body: object, code: str
) -> None:
    async with deployment.api() as api:
        answer = await api.post(f"/api/v1/members/{member_id}/disconnect", json=body)
    assert (answer.status_code, answer.json()["error"]) == (400, code)


async def test_keys_are_required_and_either_configured_key_works(deployment: Deployment) -> None:
    path = f"/api/v1/rooms/{room_name()}/members"
    async with httpx.AsyncClient(base_url=deployment.api_url, timeout=10) as anonymous:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-key-0123456789"},
            {"Authorization": API_KEY},
        ):
            answer = await anonymous.get(path, headers=headers)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert answer.json()["error"] == "unauthorized"
    for key in (API_KEY, OTHER_KEY):  # two keys at once: rotation without downtime
        async with deployment.api(key) as api:
            assert (await api.get(path)).status_code == 200


async def test_a_body_over_64_kib_is_a_413(deployment: Deployment) -> None:
    async with deployment.api() as api:
        big = b'{"text": "' + b"x" * API_MAX_BODY_BYTES + b'"}'
        answer = await api.post(messages_path(room_name()), content=big)
        assert (answer.status_code, answer.json()["error"]) == (413, "too_large")

        async def chunks():  # no Content-Length: the relay counts what arrives
            for _ in range(5):
                yield b"x" * (API_MAX_BODY_BYTES // 4)

        streamed = await api.post(messages_path(room_name()), content=chunks())
        assert streamed.status_code == 413


async def test_unknown_api_paths_are_404(deployment: Deployment) -> None:
    async with deployment.api() as api:
        for path in ("/api/v1/nothing", "/api/v2/rooms/a/messages", "/api"):
            answer = await api.get(path)
            assert (answer.status_code, answer.json()["error"]) == (404, "not_found"), path


async def test_a_known_path_with_another_method_is_405_naming_the_allowed_ones(
    deployment: Deployment,
) -> None:
    room = room_name()
    async with deployment.api() as api:
        for method, path, allowed in [
            ("DELETE", messages_path(room), "GET, HEAD, POST"),
            ("PUT", f"{messages_path(room)}/1-0", "DELETE"),
            ("GET", f"/api/v1/members/{'0' * 16}/disconnect", "POST"),
            ("POST", "/api/v1/openapi.json", "GET, HEAD"),
        ]:
            answer = await api.request(method, path)
            error = answer.json()["error"]
            assert (answer.status_code, error) == (405, "method_not_allowed"), (method, path)
            assert answer.headers["allow"] == allowed, (method, path)
        # Nothing was posted by the DELETE on the messages path.
        assert (await api.get(messages_path(room))).json()["messages"] == []


def test_without_keys_every_api_path_is_404() -> None:
    env = {k: v for k, v in API_ENV.items() if k != "SERVER_API_KEYS"}
    with RelayProcess(env=env) as relay, httpx.Client(base_url=relay.http, timeout=10) as client:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        for method, path in [
            ("POST", "/api/v1/rooms/lobby/messages"),
            ("GET", "/api/v1/rooms/lobby/messages"),
            ("GET", "/api/v1/rooms/lobby/members"),
            ("DELETE", "/api/v1/rooms/lobby/messages/1-0"),
            ("POST", f"/api/v1/members/{'0' * 16}/disconnect"),
            ("GET", "/api/v1/openapi.json"),
        ]:
            answer = client.request(method, path, headers=headers, json={"text": "x"})
            assert answer.status_code == 404, (method, path)


def test_a_key_over_its_rate_gets_429_with_retry_after() -> None:
    env = {**API_ENV, "API_RATE_LIMIT": "0.2", "API_RATE_BURST": "3"}
    with RelayProcess(env=env) as relay, httpx.Client(base_url=relay.http, timeout=10) as client:
        path = "/api/v1/rooms/lobby/members"
        first = {"Authorization": f"Bearer {API_KEY}"}
        statuses = [client.get(path, headers=first).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get(path, headers=first)
        assert limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 5
        # The limit is per key: the other key still has its burst.
        other = {"Authorization": f"Bearer {OTHER_KEY}"}
        assert client.get(path, headers=other).status_code == 200


async def test_get_messages_pages_back_oldest_first(deployment: Deployment) -> None:
    room = room_name()
    async with deployment.api() as api:
        ids = []
        for index in range(7):
            posted = await api.post(messages_path(room), json={"text": f"m{index}"})
            ids.append(posted.json()["id"])
        newest = (await api.get(messages_path(room), params={"limit": "3"})).json()
        assert [m["text"] for m in newest["messages"]] == ["m4", "m5", "m6"]
        assert newest["complete"] is False
        assert set(newest["messages"][0]) == {"id", "date", "member", "username", "avatar", "text"}
        before = newest["messages"][0]["id"]
        older = (await api.get(messages_path(room), params={"limit": "3", "before": before})).json()
        assert [m["text"] for m in older["messages"]] == ["m1", "m2", "m3"]
        oldest = await api.get(messages_path(room), params={"before": older["messages"][0]["id"]})
        assert oldest.json() == {"messages": [oldest.json()["messages"][0]], "complete": True}
        assert oldest.json()["messages"][0]["id"] == ids[0]
        everything = (await api.get(messages_path(room))).json()
        assert [m["id"] for m in everything["messages"]] == ids and everything["complete"]
        for query, code in (
            ({"limit": "0"}, "bad_limit"),
            ({"limit": "101"}, "bad_limit"),
            ({"limit": "x"}, "bad_limit"),
            ({"before": "yesterday"}, "bad_id"),
        ):
            bad = await api.get(messages_path(room), params=query)
            assert (bad.status_code, bad.json()["error"]) == (400, code), query


async def test_delete_tells_members_and_no_history_carries_the_text(
    deployment: Deployment,
) -> None:
    room = room_name()
    async with await ChatClient.connect(deployment.member_ws) as member, deployment.api() as api:
        joined = await member.join(room)
        kept = await member.say("kept")
        doomed = (await api.post(messages_path(room), json={"text": "regrettable"})).json()["id"]
        await member.recv_type("messages")
        await member.recv_type("messages")
        answer = await api.delete(f"{messages_path(room)}/{doomed}")
        assert (answer.status_code, answer.content) == (204, b"")
        assert await member.recv_type("message_deleted") == {
            "type": "message_deleted",
            "room": room,  # every frame about a room names it
            "id": doomed,
        }
        # Every history read: a join, a resume with since, the API.
        async with await ChatClient.connect(deployment.ws_urls[0]) as late:
            assert [m["text"] for m in (await late.join(room)).history["messages"]] == ["kept"]
        async with await ChatClient.connect(deployment.ws_urls[0]) as resumed:
            since = await resumed.join(room, token=joined.token, since=kept["id"])
            assert since.history["messages"] == []
        page = (await api.get(messages_path(room))).json()
        assert [m["text"] for m in page["messages"]] == ["kept"]
        # Unknown, already deleted, or in another room: 404; a malformed id: 400.
        for target in (doomed, "1-1", kept["id"].replace("-", "-9")):
            gone = await api.delete(f"{messages_path(room)}/{target}")
            assert (gone.status_code, gone.json()["error"]) == (404, "not_found"), target
        elsewhere = await api.delete(f"{messages_path(room_name())}/{kept['id']}")
        assert elsewhere.status_code == 404
        bad = await api.delete(f"{messages_path(room)}/not-an-id")
        assert (bad.status_code, bad.json()["error"]) == (400, "bad_id")
