"""One client's WebSocket and its outgoing side.

Frames arrive pre-encoded (``service.transport``) and go into the socket's
transport buffer without awaiting: fan-out never waits for a client, so one slow
reader cannot delay anyone else. The transport buffer is the client's queue;
when it holds more than SEND_BUFFER_BYTES the client is closed with 1013 (try
again later) and resumes from history when it reconnects.

Frames queued during one event-loop iteration leave in one write per socket
(``WriteCoalescer``): in a join storm or a burst a socket gets one syscall for
many frames instead of one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from starlette.websockets import WebSocket

from contract.protocol import CLOSE_TRY_AGAIN

from .observability.metrics import RelayMetrics
from .transport import encode_text_frame, transport_of

_ids = itertools.count(1)
# A client that never reads cannot take the close frame; give up on it after this.
CLOSE_TIMEOUT = 30.0
SLOW_CONSUMER_REASON = "too slow: send buffer full"


class WriteCoalescer:
    """Flushes every connection that got frames, once, at the end of a loop iteration."""

    __slots__ = ("_dirty", "_scheduled", "metrics")

    def __init__(self, metrics: RelayMetrics) -> None:
        self._dirty: list[ClientConnection] = []
        self._scheduled = False
        self.metrics = metrics

    def mark(self, connection: ClientConnection) -> None:
        self._dirty.append(connection)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            connection.flush()
        if self.metrics.fanout_stamps:
            self.metrics.observe_fanout()  # the messages' bytes are with every socket now


class ClientConnection:
    __slots__ = (
        "_buffer_limit",
        "_closing",
        "_coalescer",
        "_pending",
        "_transport",
        "close_code",
        "id",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        buffer_limit: int,
        process_id: str,
        coalescer: WriteCoalescer,
    ) -> None:
        self.websocket = websocket
        self.id = f"{process_id}.{next(_ids)}"
        self._transport = transport_of(websocket.scope)
        self._buffer_limit = buffer_limit
        self._coalescer = coalescer
        self._pending: list[bytes] | None = None
        self._closing = False
        self.close_code: int | None = None

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def backlogged(self) -> bool:
        """The socket has not taken what it was given: the first thing to skip is a frame
        nobody misses (a typing notice)."""
        return self._closing or self._transport.get_write_buffer_size() > 0

    def send_frame(self, frame: bytes) -> None:
        """Queue one pre-encoded frame for this loop iteration's write."""
        if self._closing:
            return
        if self._pending is None:
            self._pending = [frame]
            self._coalescer.mark(self)
        else:
            self._pending.append(frame)

    def flush(self) -> None:
        """Write what is pending; close the client if it has fallen too far behind."""
        pending, self._pending = self._pending, None
        if not pending or self._closing:
            return
        transport = self._transport
        if transport.is_closing():
            self._closing = True
            return
        if transport.get_write_buffer_size() > self._buffer_limit:
            self.close_soon(CLOSE_TRY_AGAIN, SLOW_CONSUMER_REASON)
            return
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def send_text(self, text: str) -> None:
        self.send_frame(encode_text_frame(text))

    def close_soon(self, code: int, reason: str) -> None:
        if self._closing:
            return
        asyncio.get_running_loop().create_task(self.close(code, reason))

    async def close(self, code: int, reason: str = "") -> None:
        if self._closing and self.close_code is not None:
            return
        self.flush()  # what was queued goes before the close frame
        self._closing = True
        self.close_code = code
        if reason == SLOW_CONSUMER_REASON:
            self._coalescer.metrics.slow_consumer_closes += 1
        try:
            # The close frame queues behind what the transport still holds.
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_TIMEOUT)
        except TimeoutError:
            self._transport.abort()  # it never read: free the buffer
        except Exception:
            with contextlib.suppress(Exception):
                self._transport.abort()
