"""Direct socket writes for fan-out, beside the ASGI path.

ASGI sends one message per call through several layers, and uvicorn serializes
the frame again for every socket: about 15-20 µs per delivery. A relay fanning
one message out to thousands of sockets does the same work thousands of times.
Server-to-client frames are unmasked, so the bytes of a frame are identical for
every recipient: the hub encodes each frame once per process and writes those
bytes straight to each socket's transport (the technique of
``websockets.broadcast``). Receiving, the handshake and closing stay on ASGI.

This needs uvicorn's ``websockets-sansio`` implementation (``python -m service`` runs
its subclass ``service.ws_protocol.LeanWebSocketProtocol``); ``service.app.RelayApp``
finds its protocol object.
"""

from __future__ import annotations

import struct
from typing import Any

from starlette.types import Scope
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

PROTOCOL_SCOPE_KEY = "chat_relay.ws_protocol"
_TEXT_FIN = 0x81


def encode_text_frame(text: str) -> bytes:
    """A complete, unmasked, unfragmented RFC 6455 text frame."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((_TEXT_FIN, size))
    elif size < 65536:
        header = struct.pack("!BBH", _TEXT_FIN, 126, size)
    else:
        header = struct.pack("!BBQ", _TEXT_FIN, 127, size)
    return header + payload


def transport_of(scope: Scope) -> Any:
    """The asyncio transport under a WebSocket, or a clear error when it is not reachable."""
    protocol = scope.get(PROTOCOL_SCOPE_KEY)
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(transport, "get_write_buffer_size"):
        raise RuntimeError(
            "the relay writes frames directly to sockets and needs uvicorn's "
            "websockets-sansio implementation: start it with `python -m service`"
        )
    return transport


# The only request header read after the handshake (service.session: the client address).
KEPT_HEADERS = frozenset({b"x-forwarded-for"})


def release_handshake(scope: Scope) -> None:
    """Drop what is kept of the handshake once it is complete, for the connection's life
    (docs/benchmarks.md, "What an idle connection holds"): the scope's request headers but
    those read later (~1 KiB), and uvicorn's parsed request and 101 response (~1.8 KiB),
    which its sans-I/O protocol reads only before the handshake completes."""
    scope["headers"] = [(name, value) for name, value in scope["headers"] if name in KEPT_HEADERS]
    protocol = scope.get(PROTOCOL_SCOPE_KEY)
    if isinstance(protocol, WebSocketsSansIOProtocol) and protocol.handshake_complete:
        del protocol.request, protocol.response
