"""service.transport.release_handshake on uvicorn's real sans-I/O protocol object: the
handshake's request and response go once the 101 is sent, and not before; the scope keeps
only the request header read later (X-Forwarded-For, for the client address)."""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from service.transport import PROTOCOL_SCOPE_KEY, release_handshake


async def app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not called")


def protocol_after_handshake(complete: bool) -> WebSocketsSansIOProtocol:
    config = uvicorn.Config(app, ws="websockets-sansio", lifespan="off")
    config.load()
    loop = asyncio.new_event_loop()
    try:
        protocol = WebSocketsSansIOProtocol(config, ServerState(), {}, _loop=loop)
    finally:
        loop.close()
    protocol.request = Request("/ws", Headers({"Origin": "https://example.com"}))
    protocol.response = Response(101, "Switching Protocols", Headers())
    protocol.handshake_complete = complete
    return protocol


HEADERS = [
    (b"host", b"relay.example.com"),
    (b"origin", b"https://relay.example.com"),
    (b"x-forwarded-for", b"203.0.113.7"),
    (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
]


def test_a_completed_handshake_is_released() -> None:
    protocol = protocol_after_handshake(complete=True)
    scope = {PROTOCOL_SCOPE_KEY: protocol, "headers": list(HEADERS)}
    release_handshake(scope)
    assert scope["headers"] == [(b"x-forwarded-for", b"203.0.113.7")]
    assert not hasattr(protocol, "request")
    assert not hasattr(protocol, "response")


def test_a_handshake_in_progress_is_kept() -> None:
    protocol = protocol_after_handshake(complete=False)
    release_handshake({PROTOCOL_SCOPE_KEY: protocol, "headers": list(HEADERS)})
    assert protocol.request.path == "/ws"
    assert protocol.response.status_code == 101


def test_another_protocol_is_left_alone() -> None:
    scope = {PROTOCOL_SCOPE_KEY: None, "headers": list(HEADERS)}
    release_handshake(scope)
    assert scope["headers"] == [(b"x-forwarded-for", b"203.0.113.7")]
