"""contract/openapi.json is what the relay does: every documented path, method and status is
provoked against a real relay, and each answer's body (and documented headers) is checked
against the documented schema. A status the relay gives but the file does not list, a field
it adds or drops, or a path either side lacks fails here."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from contract import protocol
from harness.client import ChatClient
from harness.redis_server import RedisServer
from harness.relay import RelayProcess
from tests.service.conftest import API_ENV, API_KEY

DOCUMENT_FILE = Path(protocol.__file__).with_name("openapi.json")
DOCUMENT: dict[str, Any] = json.loads(DOCUMENT_FILE.read_text())
AUTH = {"Authorization": f"Bearer {API_KEY}"}
API_PATHS = {
    protocol.API_ROOM_MESSAGES_PATH,
    protocol.API_ROOM_MESSAGE_PATH,
    protocol.API_ROOM_MEMBERS_PATH,
    protocol.API_MEMBER_DISCONNECT_PATH,
    protocol.API_OPENAPI_PATH,
}
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Relays:
    api: RelayProcess  # keys, a generous rate
    slow: RelayProcess  # a rate limit of a few requests
    cut_off: RelayProcess  # its Redis is gone: storage unreachable


@pytest.fixture(scope="module")
def relays() -> Iterator[Relays]:
    slow_env = {**API_ENV, "API_RATE_LIMIT": "0.1", "API_RATE_BURST": "1"}
    with RedisServer() as doomed:
        cut_env = {**API_ENV, "REDIS_URL": doomed.url}
        with (
            RelayProcess(env=API_ENV) as api,
            RelayProcess(env=slow_env) as slow,
            RelayProcess(env=cut_env) as cut_off,
        ):
            doomed.stop()
            yield Relays(api, slow, cut_off)


def operations() -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, item in DOCUMENT["paths"].items()
        for method in METHODS
        if method in item
    ]


def documented() -> set[tuple[str, str, str]]:
    return {
        (path, method, status)
        for path, method in operations()
        for status in DOCUMENT["paths"][path][method]["responses"]
    }


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/components/...``)."""
    while "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def check_answer(path: str, method: str, status: str, answer: httpx.Response) -> None:
    """The answer has the status, the documented headers and a body the schema accepts."""
    assert str(answer.status_code) == status, (path, method, answer.status_code, answer.text)
    response = resolve(DOCUMENT["paths"][path][method]["responses"][status])
    for header in response.get("headers", {}):
        assert header.lower() in answer.headers, (path, method, status, header)
    content = response.get("content")
    if content is None:
        assert answer.content == b"", (path, method, status)
        return
    assert answer.headers["content-type"].startswith("application/json")
    schema = content["application/json"]["schema"]
    registry = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(DOCUMENT))
    rooted = {"$ref": "urn:openapi" + schema["$ref"]} if "$ref" in schema else schema
    validator = jsonschema.Draft202012Validator(rooted, registry=registry)
    validator.validate(answer.json())


# path, method -> the request that answers each status on the `api` relay (or a named one):
# (relay, path parameters, query, body, headers). A body of bytes is sent as is.
Request = tuple[str, dict[str, str], dict[str, str], Any, dict[str, str]]


def scenarios(room: str, message_id: str, member_id: str) -> dict[tuple[str, str, str], Request]:
    messages, one, members, disconnect = (
        protocol.API_ROOM_MESSAGES_PATH,
        protocol.API_ROOM_MESSAGE_PATH,
        protocol.API_ROOM_MEMBERS_PATH,
        protocol.API_MEMBER_DISCONNECT_PATH,
    )
    in_room = {"room": room}
    big = b'{"text":"' + b"x" * protocol.API_MAX_BODY_BYTES + b'"}'
    full_post = {"text": "documented", "username": "Doc bot", "idempotency_key": "doc-1"}
    table: dict[tuple[str, str, str], Request] = {
        (messages, "post", "201"): ("api", in_room, {}, full_post, AUTH),
        (messages, "post", "400"): ("api", in_room, {}, {"text": ""}, AUTH),
        (messages, "post", "413"): ("api", in_room, {}, big, AUTH),
        (messages, "get", "200"): (
            "api",
            in_room,
            {"limit": "2", "before": "9" * 13 + "-0"},
            None,
            AUTH,
        ),
        (messages, "get", "400"): ("api", in_room, {"limit": "0"}, None, AUTH),
        (one, "delete", "204"): ("api", {**in_room, "message_id": message_id}, {}, None, AUTH),
        (one, "delete", "404"): ("api", {**in_room, "message_id": "1-1"}, {}, None, AUTH),
        (one, "delete", "400"): ("api", {**in_room, "message_id": "nope"}, {}, None, AUTH),
        (members, "get", "200"): ("api", in_room, {}, None, AUTH),
        (members, "get", "400"): ("api", {"room": "NO"}, {}, None, AUTH),
        (disconnect, "post", "200"): (
            "api",
            {"member_id": member_id},
            {},
            {"ban_seconds": 1},
            AUTH,
        ),
        (disconnect, "post", "400"): ("api", {"member_id": "x"}, {}, None, AUTH),
        (disconnect, "post", "413"): ("api", {"member_id": member_id}, {}, big, AUTH),
        (protocol.API_OPENAPI_PATH, "get", "200"): ("api", {}, {}, None, {}),
    }
    # Every authenticated operation: no key (401), over the rate (429), storage gone (503).
    for path, method in operations():
        if (path, method, "401") not in documented():
            continue
        params = {"room": room, "message_id": message_id, "member_id": member_id}
        body = full_post if method == "post" and path == messages else None
        table[(path, method, "401")] = ("api", params, {}, body, {})
        table[(path, method, "429")] = ("slow", params, {}, body, AUTH)
        table[(path, method, "503")] = ("cut_off", params, {}, body, AUTH)
    return table


def test_the_document_is_valid_openapi_3_1_and_names_the_contracts_paths() -> None:
    validate_openapi(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1")
    assert set(DOCUMENT["paths"]) == API_PATHS
    codes = resolve({"$ref": "#/components/schemas/Error"})["properties"]["error"]["enum"]
    assert set(codes) == set(protocol.API_ERROR_CODES)


def test_the_relay_serves_the_document(relays: Relays) -> None:
    answer = httpx.get(relays.api.http + protocol.API_OPENAPI_PATH, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == DOCUMENT


@pytest.mark.anyio
async def test_every_documented_status_is_what_the_relay_answers(relays: Relays) -> None:
    room = f"doc-{secrets.token_hex(3)}"
    async with await ChatClient.connect(relays.api.ws) as member:
        joined = await member.join(room)
        ack = await member.say("to delete")
        table = scenarios(room, ack["id"], joined.member["id"])
        assert set(table) == documented(), (
            "a documented status without a request, or a request for an undocumented one"
        )
        by_name: dict[str, RelayProcess] = {
            "api": relays.api,
            "slow": relays.slow,
            "cut_off": relays.cut_off,
        }
        async with httpx.AsyncClient(timeout=10) as client:
            # Spend the slow relay's burst first, so each 429 request is over the rate.
            spend = relays.slow.http + protocol.API_ROOM_MEMBERS_PATH.format(room=room)
            await client.get(spend, headers=AUTH)
            for (path, method, status), request in sorted(table.items()):
                name, params, query, body, headers = request
                url = by_name[name].http + path.format(**params)
                content = body if isinstance(body, bytes) else None
                payload = None if isinstance(body, bytes) else body
                answer = await client.request(
                    method, url, params=query, json=payload, content=content, headers=headers
                )
                check_answer(path, method, status, answer)


def test_the_rate_limit_headers_and_errors_are_documented_once() -> None:
    """Guards the table above: 401 and 429 carry the headers the relay sends."""
    responses = DOCUMENT["components"]["responses"]
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "Retry-After" in responses["429"]["headers"]
