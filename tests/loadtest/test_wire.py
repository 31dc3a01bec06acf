"""The lean WebSocket client's framing, against bytes written by hand (no network)."""

from __future__ import annotations

import pytest
from websockets.speedups import apply_mask
from websockets.utils import accept_key

from loadtest.wire import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    HandshakeFailed,
    RelayConnection,
    encode_frame,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
HANDSHAKE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + accept_key(KEY).encode() + b"\r\n\r\n"
)


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    length = len(payload)
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return bytes((first, 126)) + length.to_bytes(2, "big") + payload
    return bytes((first, 127)) + length.to_bytes(8, "big") + payload


def unmask_client_frame(frame: bytes) -> tuple[int, bytes]:
    length = frame[1] & 0x7F
    offset = 2 + {126: 2, 127: 8}.get(length, 0)
    mask, payload = frame[offset : offset + 4], frame[offset + 4 :]
    assert frame[1] & 0x80, "client frames must be masked"
    return frame[0] & 0x0F, apply_mask(payload, mask)


def open_connection_with(received: list[bytes]) -> tuple[RelayConnection, FakeTransport]:
    connection = RelayConnection(b"GET / HTTP/1.1\r\n\r\n", KEY, lambda p, _: received.append(p))
    transport = FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport


@pytest.mark.anyio
async def test_frames_split_anywhere_arrive_whole_and_in_order() -> None:
    received: list[bytes] = []
    connection, transport = open_connection_with(received)
    assert transport.written == [b"GET / HTTP/1.1\r\n\r\n"]
    big = b"x" * 70_000
    stream = HANDSHAKE + server_frame(OP_TEXT, b"one") + server_frame(OP_TEXT, big)
    stream += server_frame(OP_TEXT, b"thr", fin=False) + server_frame(0x0, b"ee")
    for i in range(0, len(stream), 7):  # 7-byte reads cut every header and payload
        connection.data_received(stream[i : i + 7])
    assert connection.opened.done()
    assert received == [b"one", big, b"three"]


@pytest.mark.anyio
async def test_a_ping_is_answered_with_its_payload() -> None:
    connection, transport = open_connection_with([])
    connection.data_received(HANDSHAKE + server_frame(OP_PING, b"hi"))
    assert unmask_client_frame(transport.written[-1]) == (OP_PONG, b"hi")


@pytest.mark.anyio
async def test_the_servers_close_code_is_kept_and_echoed() -> None:
    connection, transport = open_connection_with([])
    connection.data_received(HANDSHAKE + server_frame(OP_CLOSE, (1012).to_bytes(2, "big")))
    assert unmask_client_frame(transport.written[-1]) == (OP_CLOSE, (1012).to_bytes(2, "big"))
    assert transport.closed
    connection.connection_lost(None)
    assert connection.closed.result() == 1012


@pytest.mark.anyio
async def test_a_refused_upgrade_reports_the_status() -> None:
    connection, transport = open_connection_with([])
    connection.data_received(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
    with pytest.raises(HandshakeFailed, match="403") as failure:
        connection.opened.result()
    assert failure.value.status == 403
    assert transport.aborted


@pytest.mark.anyio
async def test_a_wrong_accept_key_is_refused() -> None:
    connection, _ = open_connection_with([])
    connection.data_received(HANDSHAKE.replace(accept_key(KEY).encode(), b"bogus="))
    with pytest.raises(HandshakeFailed, match="Accept"):
        connection.opened.result()


@pytest.mark.anyio
async def test_a_masked_server_frame_is_a_protocol_error() -> None:
    connection, transport = open_connection_with([])
    connection.data_received(HANDSHAKE + bytes((0x81, 0x80 | 2)) + b"\0\0\0\0ab")
    assert transport.aborted
    assert connection.close_code == 1002


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_client_frames_are_masked_and_length_encoded(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert unmask_client_frame(encode_frame(OP_TEXT, payload)) == (OP_TEXT, payload)
