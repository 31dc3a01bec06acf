"""A lean RFC 6455 client connection, built for a load generator's receive path.

Why not `websockets.asyncio.client`: profiled at 20,000 deliveries/s it cost ~23 us of CPU per
delivered frame (a parser generator, a queue and a task wake-up per frame), so one generator
core topped out far below the relay. Here every frame of a TCP read is parsed inline in
`data_received` and handed to a plain callback: no task switch per frame. Masking and the
handshake keys come from websockets. Only what chat-relay's protocol needs is implemented:
text frames, fragmentation, ping/pong and the close handshake; no extensions.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable
from time import monotonic_ns
from typing import cast
from urllib.parse import urlsplit

from websockets.utils import accept_key, generate_key

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the C extension ships in websockets' wheels

    def apply_mask(data: bytes | bytearray | memoryview, mask: bytes | bytearray) -> bytes:
        key = int.from_bytes(mask * (len(data) // 4 + 1), "big") >> (8 * (3 - (len(data) - 1) % 4))
        return (int.from_bytes(data, "big") ^ key).to_bytes(len(data), "big")


OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
ABNORMAL_CLOSE = 1006
MAX_FRAME = 1 << 20

FrameHandler = Callable[[bytes, int], None]  # (text payload, monotonic ns of the TCP read)


class HandshakeFailed(Exception):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status


class ConnectionClosed(Exception):
    """Sending on a connection that has closed."""


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame: FIN set, masked as RFC 6455 requires of clients."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    mask = os.urandom(4)
    return header + mask + apply_mask(payload, mask)


class RelayConnection(asyncio.Protocol):
    def __init__(self, request: bytes, key: str, on_text: FrameHandler) -> None:
        self.request = request
        self.expected_accept = accept_key(key)
        self.on_text = on_text
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()  # result: close code
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.fragments: list[bytes] = []
        self.close_code = ABNORMAL_CLOSE
        self.close_sent = False

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.opened.done() and not self._read_handshake():
            return
        self._read_frames(monotonic_ns())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionResetError("closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    # --- API --------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.closed.done() and not self.close_sent

    def send_text(self, payload: bytes) -> None:
        if not self.is_open:
            raise ConnectionClosed
        self.transport.write(encode_frame(OP_TEXT, payload))  # type: ignore[union-attr]

    async def close(self, code: int = 1000, timeout: float = 2.0) -> None:
        """Close handshake: send a close frame, wait for the server's, then drop the socket."""
        if self.transport is None or self.closed.done():
            return
        if not self.close_sent:
            self.close_sent = True
            self.transport.write(encode_frame(OP_CLOSE, code.to_bytes(2, "big")))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- parsing ----------------------------------------------------------------------------

    def _read_handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > 65536:
                self._fail_handshake(HandshakeFailed(0, "response headers too long"))
            return False
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        status_line = head[0].split(" ", 2)
        try:
            status = int(status_line[1])
        except (IndexError, ValueError):
            self._fail_handshake(HandshakeFailed(0, "not an HTTP response"))
            return False
        if status != 101:
            self._fail_handshake(
                HandshakeFailed(status, status_line[2] if len(status_line) > 2 else "")
            )
            return False
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("sec-websocket-accept") != self.expected_accept:
            self._fail_handshake(HandshakeFailed(101, "bad Sec-WebSocket-Accept"))
            return False
        if headers.get("sec-websocket-extensions"):
            self._fail_handshake(
                HandshakeFailed(101, "server imposed an extension we did not offer")
            )
            return False
        self.opened.set_result(None)
        return True

    def _fail_handshake(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        self.abort()

    def _read_frames(self, now: int) -> None:
        buffer = self.buffer
        size = len(buffer)
        pos = 0
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                header = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                header = 10
            if second & 0x80 or length > MAX_FRAME:
                self._protocol_error(1002 if second & 0x80 else 1009)  # servers never mask
                return
            end = pos + header + length
            if end > size:
                break
            payload = bytes(buffer[pos + header : end])
            pos = end
            opcode = first & 0x0F
            if opcode == OP_TEXT and first & 0x80:
                self.on_text(payload, now)
            else:
                self._control_or_fragment(opcode, bool(first & 0x80), payload, now)
        if pos:
            del buffer[:pos]

    def _control_or_fragment(self, opcode: int, fin: bool, payload: bytes, now: int) -> None:
        if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
            self.fragments.append(payload)
            if fin:
                message, self.fragments = b"".join(self.fragments), []
                if opcode != OP_BINARY:  # the protocol has text frames only
                    self.on_text(message, now)
        elif opcode == OP_PING:
            if self.is_open:
                self.transport.write(encode_frame(OP_PONG, payload))  # type: ignore[union-attr]
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if not self.close_sent and self.transport is not None:
                self.close_sent = True
                self.transport.write(encode_frame(OP_CLOSE, payload[:2]))
            if self.transport is not None:
                self.transport.close()

    def _protocol_error(self, code: int) -> None:
        self.close_code = code
        self.abort()


async def open_connection(
    url: str,
    on_text: FrameHandler,
    *,
    origin: str | None = None,
    tls: ssl.SSLContext | None = None,
    timeout: float = 10.0,
    user_agent: str = "chat-relay-loadtest",
    protocol: type[RelayConnection] = RelayConnection,
) -> RelayConnection:
    """Connect and complete the WebSocket handshake within `timeout` seconds; `protocol`
    is the connection class (loadtest/socketio.py's carries Socket.IO over it)."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    default_port = port == (443 if secure else 80)
    host_header = (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = generate_key()
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host_header}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"User-Agent: {user_agent}",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _, connection = await loop.create_connection(
            lambda: protocol(request, key, on_text),
            host,
            port,
            ssl=(tls or ssl.create_default_context()) if secure else None,
            server_hostname=host if secure else None,
        )
        try:
            await connection.opened
        except BaseException:
            connection.abort()
            raise
    return connection
