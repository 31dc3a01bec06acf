"""Reading one client's frames: the rate limit, parsing, pings and the join timeout.

Every bad frame is answered with an ``error`` frame and skipped, so the connection stays
usable; only repeated abuse or the end of the socket ends the reading (``Disconnected``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.websockets import WebSocket

from contract.protocol import CLOSE_POLICY

from . import protocol
from .connection import ClientConnection
from .observability.metrics import RelayMetrics
from .protocol import ClientFrame, Join, Ping, ProtocolError
from .ratelimit import TokenBucket

log = logging.getLogger("service.session")

# Frames dropped in a row by the rate limiter before the client is disconnected.
ABUSE_STRIKES_PER_BURST = 5
RATE_LIMITED_NOTICE_INTERVAL = 1.0


class Disconnected(Exception):
    """The conversation is over; with a code, the relay closes the socket with it."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class FrameReader:
    __slots__ = (
        "_bucket",
        "_connection",
        "_last_rate_notice",
        "_metrics",
        "_rate_burst",
        "_rate_limit",
        "_strikes",
        "_websocket",
        "peer_close_code",
    )

    def __init__(
        self,
        websocket: WebSocket,
        connection: ClientConnection,
        metrics: RelayMetrics,
        rate_limit: float,
        rate_burst: int,
    ) -> None:
        self._websocket = websocket
        self._connection = connection
        self._metrics = metrics
        self._rate_limit = rate_limit
        self._rate_burst = rate_burst
        self._bucket = TokenBucket(rate_limit, rate_burst)
        self._strikes = 0
        self._last_rate_notice = 0.0
        self.peer_close_code: int | None = None  # the client's close code, once it closed

    async def next_frame(self, deadline: float | None = None) -> ClientFrame:
        """The next frame other than a ping; answers pings and bad frames on the way (the
        protocol allows both at any time). Raises TimeoutError at the loop-time ``deadline``
        and ``Disconnected`` when the socket ends."""
        loop = asyncio.get_running_loop()
        connection = self._connection
        while True:
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            receive = self._websocket.receive()
            # Awaited directly when there is no deadline: wait_for's own coroutine frame would
            # stay alive for as long as an idle connection waits (docs/benchmarks.md).
            message = await (receive if timeout is None else asyncio.wait_for(receive, timeout))
            if message["type"] == "websocket.disconnect":
                self.peer_close_code = message.get("code")
                raise Disconnected
            if self._bucket.allow():
                self._strikes = 0
            else:
                self._over_rate()
                continue
            text: str | None = message.get("text")
            if text is None:
                connection.send_text(protocol.error("bad_frame", "binary frames are not supported"))
                continue
            try:
                frame = protocol.parse_client_frame(text)
            except ProtocolError as exc:
                connection.send_text(protocol.error(exc.code, exc.detail))
                continue
            if isinstance(frame, Ping):
                connection.send_text(protocol.PONG)
                continue
            return frame

    async def wait_for_join(self, join_timeout: float) -> Join | None:
        """The client's ``join``, answering anything before it with ``not_joined``; None
        (the socket closed with 1008) when none came within ``join_timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + join_timeout
        while True:
            try:
                frame = await self.next_frame(deadline)
            except TimeoutError:
                await self._connection.close(CLOSE_POLICY, "no join within the join timeout")
                return None
            if isinstance(frame, Join):
                return frame
            self._connection.send_text(protocol.error("not_joined", 'send a "join" frame first'))
            # (a frame before the join is answered and dropped, whatever its type)

    def _over_rate(self) -> None:
        """A frame over the rate was dropped: say so at most once a second, and end the
        conversation after too many in a row."""
        self._strikes += 1
        self._metrics.rate_limited += 1
        if self._strikes > ABUSE_STRIKES_PER_BURST * self._rate_burst:
            log.warning("closing a client over the rate limit", extra={"conn": self._connection.id})
            raise Disconnected(CLOSE_POLICY, "rate limit exceeded repeatedly")
        now = time.monotonic()
        if now - self._last_rate_notice >= RATE_LIMITED_NOTICE_INTERVAL:
            self._last_rate_notice = now
            detail = f"over {self._rate_limit:g} frames/s; frames are being dropped"
            self._connection.send_text(protocol.error("rate_limited", detail))
