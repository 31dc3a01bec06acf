"""One client's WebSocket: a bounded outgoing queue drained by its own writer task.

Fan-out only appends to the queue (never awaits a socket), so one slow reader
cannot delay anyone else. A client whose queue reaches its bound is closed with
1013 (try again later); it reconnects and resumes from history.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque

from starlette.websockets import WebSocket

from . import protocol

_ids = itertools.count(1)
CLOSE_TIMEOUT = 5.0


class ClientConnection:
    __slots__ = (
        "_closing",
        "_drained",
        "_queue",
        "_queue_limit",
        "_send",
        "_wake",
        "_writer",
        "close_code",
        "id",
        "websocket",
    )

    def __init__(self, websocket: WebSocket, queue_limit: int, process_id: str) -> None:
        self.websocket = websocket
        self.id = f"{process_id}.{next(_ids)}"
        self._queue: deque[str] = deque()
        self._queue_limit = queue_limit
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # set while the queue is empty
        self._drained.set()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._send = websocket.send
        self.close_code: int | None = None

    @property
    def closing(self) -> bool:
        return self._closing

    def start_writer(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.id}")

    def enqueue(self, frame: str) -> None:
        """Queue a frame without waiting; close the client if it has fallen too far behind."""
        if self._closing:
            return
        if len(self._queue) >= self._queue_limit:
            self.close_soon(protocol.CLOSE_TRY_AGAIN, "too slow: send queue full")
            return
        self._queue.append(frame)
        self._drained.clear()
        self._wake.set()

    async def _write_loop(self) -> None:
        queue = self._queue
        send = self._send
        try:
            while True:
                if not queue:
                    self._drained.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await send({"type": "websocket.send", "text": queue.popleft()})
        except asyncio.CancelledError:
            raise
        except Exception:
            # The socket went away under us (WebSocketDisconnect, OSError...); the
            # reader side sees the disconnect and cleans up.
            self._closing = True

    async def flush(self, timeout: float) -> None:
        """Wait (bounded) until queued frames are handed to the socket."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), timeout)

    def close_soon(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._queue.clear()
        asyncio.get_running_loop().create_task(self.close(code, reason, already_closing=True))

    async def close(self, code: int, reason: str = "", *, already_closing: bool = False) -> None:
        if self._closing and not already_closing:
            return
        self._closing = True
        self.close_code = code
        if self._writer is not None:
            self._writer.cancel()
        # Bounded: a client that stopped reading leaves the socket paused forever.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_TIMEOUT)

    async def stop_writer(self) -> None:
        self._closing = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
