"""`--protocol socketio`: the same simulated clients against a Socket.IO 4 server.

A thin adapter under the client layer: Engine.IO v4 over WebSocket (`GET /socket.io/?EIO=4&
transport=websocket`; packets `0{...}` open, `2` ping / `3` pong, `4` message) carrying
Socket.IO v5 packets (`40` connect to the main namespace, `42[name, ...args]` an event) on
the same lean connection as wire.py. Each event is translated into the wire protocol v1
frame of the same name before the client sees it, and each v1 frame the client sends into
an event, so `SimulatedClient` and every figure it keeps are the same for both protocols.

The benchmark's peers (bench/peers/) name their events after the v1 frame types, with the
original sample's payloads (a message object, a list or {messages} for history):

    server -> client   welcome {room, member}   ack {ref, id}   error {code}
                       messages message          message_history [message] | {messages}
                       member_add / member_delete / member_history (skipped unparsed)
    client -> server   join(room)   send(text, ref)

A message's text is its `text`, or `message` as the original sample names it. The original
sample sends no welcome and emits `member_history` and `message_history` to every socket on
every join, then publishes the joiner's `member_add` (to everyone, the joiner too; its
`socket` is the socket id the connect packet `40{"sid":...}` told the client). So without a
welcome a client is joined at its own `member_add`, with the last `message_history` it got
before it (its own join's or a later one's); later histories repeat what it already has
and are dropped. A `member_add` is searched for the id, not parsed, and only until then.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from contract.protocol import DEFAULT_ROOM
from loadtest.wire import OP_TEXT, FrameHandler, RelayConnection, encode_frame, open_connection

ENGINE_IO_PATH = "/socket.io/"
ENGINE_IO_QUERY = "EIO=4&transport=websocket"
PONG = encode_frame(OP_TEXT, b"3")  # masked once: a pong carries no payload to hide
CONNECT_NAMESPACE = b"40"
EVENT = b"42"
PRESENCE_EVENT = b'42["member_'  # presence is unused by the generator (see client.py)
MEMBER_ADD_EVENT = b'42["member_add"'


class NamespaceRefused(Exception):
    """The server answered the Socket.IO connect with a connect error (`44`)."""


def socketio_url(url: str) -> str:
    """ws[s]://host:port[/ws] -> the Engine.IO WebSocket endpoint; another path is kept
    (a server mounted elsewhere), with the Engine.IO query added."""
    parts = urlsplit(url)
    path = parts.path if parts.path not in ("", "/", "/ws") else ENGINE_IO_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, ENGINE_IO_QUERY, ""))


def as_v1_message(message: dict[str, Any]) -> dict[str, Any]:
    if "text" not in message and "message" in message:
        message = {**message, "text": message["message"]}
    return message


class SocketIOConnection(RelayConnection):
    """A RelayConnection whose callback and send_text speak v1 while the socket speaks
    Socket.IO; `namespace` resolves once the server accepted the connect packet."""

    def __init__(self, request: bytes, key: str, on_text: FrameHandler) -> None:
        super().__init__(request, key, self._on_packet)
        self.deliver = on_text
        self.namespace: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.own_member_marker: bytes | None = None  # '"socket":"<sid>"' once connected
        self.welcomed = False
        self.pending_history: bytes | None = None  # no welcome: the last history so far
        self.history_taken = False

    def send_text(self, payload: bytes) -> None:
        frame = orjson.loads(payload)
        kind = frame.get("type")
        if kind == "join":
            event: list[Any] = ["join", frame.get("room", DEFAULT_ROOM)]
        elif kind == "send":
            event = ["send", frame["text"], frame.get("ref")]
        else:
            return  # v1 ping: Engine.IO keeps the connection alive itself
        super().send_text(EVENT + orjson.dumps(event))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.namespace.done():
            self.namespace.set_exception(exc or ConnectionResetError("closed before connect"))
        super().connection_lost(exc)

    def _on_packet(self, payload: bytes, now: int) -> None:
        if payload.startswith(EVENT):
            if not payload.startswith(PRESENCE_EVENT):
                self._on_event(payload, now)
            elif not self.history_taken and self._is_own_member_add(payload):
                self._take_history(self.pending_history or b'42["message_history",[]]', now)
        elif payload == b"2":
            if self.is_open:
                self.transport.write(PONG)  # type: ignore[union-attr]
        elif payload.startswith(b"0"):
            super().send_text(CONNECT_NAMESPACE)  # Engine.IO open: connect to "/"
        elif payload.startswith(CONNECT_NAMESPACE):
            if not self.namespace.done():
                self._on_connected(payload)
        elif payload.startswith(b"44") and not self.namespace.done():
            self.namespace.set_exception(NamespaceRefused(payload[2:].decode(errors="replace")))

    def _is_own_member_add(self, payload: bytes) -> bool:
        marker = self.own_member_marker
        return marker is not None and payload.startswith(MEMBER_ADD_EVENT) and marker in payload

    def _take_history(self, payload: bytes, now: int) -> None:
        self.welcomed = True  # as if: the history is taken as the welcome's would be
        self._on_event(payload, now)

    def _on_connected(self, payload: bytes) -> None:
        try:
            sid = orjson.loads(payload[2:])["sid"]
        except (ValueError, TypeError, KeyError):
            self.namespace.set_exception(NamespaceRefused("connect packet without a sid"))
            return
        self.own_member_marker = b'"socket":' + orjson.dumps(sid)
        self.namespace.set_result(None)

    def _on_event(self, payload: bytes, now: int) -> None:
        try:
            name, *args = orjson.loads(payload[2:])
            data: Any = args[0] if args else None  # JSON: checked by use, KeyError below
            frame: dict[str, Any]
            if name == "messages":
                frame = {"type": "messages", "message": as_v1_message(data)}
            elif name == "message_history":
                if self.history_taken:
                    return  # a later join's, emitted to everyone
                if not self.welcomed:
                    self.pending_history = payload  # maybe another join's: wait (see above)
                    return
                self.history_taken = True
                messages = data if isinstance(data, list) else data["messages"]
                complete = True if isinstance(data, list) else data.get("complete", True)
                frame = {
                    "type": "message_history",
                    "messages": [as_v1_message(m) for m in messages],
                    "complete": complete,
                }
            elif name in ("welcome", "ack", "error"):
                self.welcomed = self.welcomed or name == "welcome"
                frame = {**data, "type": name}
            else:
                return
        except (ValueError, TypeError, KeyError):
            self.deliver(payload, now)  # not JSON the client can read: it counts it
            return
        self.deliver(orjson.dumps(frame), now)


async def open_socketio_connection(
    url: str,
    on_text: FrameHandler,
    *,
    origin: str | None = None,
    tls: ssl.SSLContext | None = None,
    timeout: float = 10.0,
) -> SocketIOConnection:
    """WebSocket handshake, Engine.IO open and Socket.IO connect, within `timeout` seconds."""
    async with asyncio.timeout(timeout):
        connection = await open_connection(
            url, on_text, origin=origin, tls=tls, timeout=timeout, protocol=SocketIOConnection
        )
        assert isinstance(connection, SocketIOConnection)  # protocol= built it
        try:
            await asyncio.wait(
                (connection.namespace, connection.closed), return_when=asyncio.FIRST_COMPLETED
            )
            if not connection.namespace.done():
                raise ConnectionResetError("closed before the Socket.IO connect")
            connection.namespace.result()
        except BaseException:
            connection.abort()
            raise
    return connection
