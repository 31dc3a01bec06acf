"""The relay's HTTP/1.1 edge: bounds on what a connection may send before it is a request.

uvicorn's httptools protocol keeps every header it parses (a million small headers cost
~120 MiB) and lets httptools buffer a header value of any size; it arms no timer until a
first response, so a half-sent request line holds a socket forever, and it upgrades a
WebSocket asked for over HTTP/1.0. This subclass fixes those at the parser:

- a request head (request line and headers) is fed to httptools at most
  ``REQUEST_HEAD_MAX_BYTES`` at a time and refused with 431 past that, or past
  ``REQUEST_HEAD_MAX_HEADERS`` headers, so nothing larger is ever buffered;
- a head must be complete ``REQUEST_HEAD_TIMEOUT`` seconds after the connection opened
  (or after the next request's first byte): else 408 and close (a connection that sent
  nothing is closed without a reply);
- at most ``MAX_HTTP_CONNECTIONS`` connections are open that are not (yet) WebSockets;
  past it a new one gets 503 and is closed;
- a WebSocket upgrade needs HTTP/1.1 (RFC 6455, section 4.1): else 400.

Refusals are written, then the write side is shut and input read and dropped for a
moment before closing (a "lingering close"), so the client sees the status instead of a
reset. The AWS load balancer accepts request heads up to 64 KiB (its quota; the default
byte limit matches it) and sends each request whole, so behind it the timeout never
fires for a real client.
"""

from __future__ import annotations

import asyncio
import functools
import http
import logging
from dataclasses import dataclass, field
from typing import Any, cast

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from .config import Settings
from .observability.metrics import RelayMetrics

log = logging.getLogger("service.http_edge")

# How long a refused connection's input is read and dropped before the socket closes.
LINGER_SECONDS = 1.0


class _HeadRefused(Exception):
    """Raised in a parser callback to stop parsing (httptools re-raises it wrapped in an
    HttpParserError); the protocol's ``_pending`` says what to answer."""


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    detail: str
    reason: str  # the ``reason`` label of chat_relay_connections_refused_total


@dataclass(slots=True)
class HttpEdge:
    """Limits and the shared count of open HTTP (not WebSocket) connections of one server."""

    max_head_bytes: int
    max_headers: int
    head_timeout: float
    max_connections: int
    metrics: RelayMetrics
    open: set[BoundedHttpProtocol] = field(default_factory=set)

    @classmethod
    def from_settings(cls, settings: Settings, metrics: RelayMetrics) -> HttpEdge:
        return cls(
            max_head_bytes=settings.request_head_max_bytes,
            max_headers=settings.request_head_max_headers,
            head_timeout=settings.request_head_timeout,
            max_connections=settings.max_http_connections,
            metrics=metrics,
        )

    def protocol_factory(self) -> type[asyncio.Protocol]:
        """What ``uvicorn.Config(http=...)`` takes: called per connection like a class."""
        # uvicorn only calls it, so a factory stands in for the class its types ask for.
        return cast("type[asyncio.Protocol]", functools.partial(BoundedHttpProtocol, edge=self))


class BoundedHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        edge: HttpEdge,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.edge = edge
        self.reading_head = True  # from accept, and from a next request's first byte
        self.head_begun = False  # a byte of the head has arrived
        self.head_bytes = 0
        self.head_headers = 0
        self.head_timer: asyncio.TimerHandle | None = None
        self.refusal: Refusal | None = None
        self._pending: Refusal | None = None  # set by a callback that stopped the parser

    # connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        edge = self.edge
        if len(edge.open) >= edge.max_connections:
            detail = "too many connections are still sending a request; retry shortly"
            self._refuse(Refusal(503, detail, "http_capacity"), linger=False)
            return
        edge.open.add(self)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.edge.open.discard(self)
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refusal is not None:
            return  # lingering: drop what the client is still sending
        self._unset_keepalive_if_required()
        limit = self.edge.max_head_bytes
        while data and self.refusal is None and not self.transport.is_closing():
            if not self.reading_head:
                self._feed(data)
                return
            # Never hand httptools more head than the limit: it would buffer all of it.
            # (A pipelined next head that starts inside a chunk fed whole above is counted
            # from the following chunk: at most one read, 256 KiB, over.)
            chunk, data = data[: limit - self.head_bytes], data[limit - self.head_bytes :]
            self.head_bytes += len(chunk)
            if not self._feed(chunk):
                return
            if self.reading_head and self.head_bytes >= limit and self.refusal is None:
                detail = f"request head over {limit} bytes (REQUEST_HEAD_MAX_BYTES)"
                self._refuse(Refusal(431, detail, "head_too_large"))

    def _feed(self, data: bytes) -> bool:
        """Feed the parser; False when the connection was upgraded or answered an error."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._pending is not None:
                self._refuse(self._pending)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        return True

    # parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_begun = True
        if not self.reading_head:  # a next request on a kept-alive connection
            self.reading_head = True
            self.head_bytes = 0
            self._arm_head_timer()
        self.head_headers = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_headers += 1
        if self.head_headers > self.edge.max_headers:
            detail = f"more than {self.edge.max_headers} headers (REQUEST_HEAD_MAX_HEADERS)"
            self._stop(Refusal(431, detail, "head_too_large"))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self.head_begun = False
        self._cancel_head_timer()
        upgrade = self.parser.should_upgrade() and self._should_upgrade()
        if upgrade and self.parser.get_http_version() != "1.1":
            detail = "a WebSocket upgrade needs HTTP/1.1 (RFC 6455, section 4.1)"
            self._stop(Refusal(400, detail, "http_version"))
        super().on_headers_complete()

    # refusing

    def _stop(self, refusal: Refusal) -> None:
        self._pending = refusal
        raise _HeadRefused(refusal.detail)

    def _refuse(self, refusal: Refusal, linger: bool = True) -> None:
        """Answer ``refusal`` and close. Lingering (the connection still counts against
        MAX_HTTP_CONNECTIONS meanwhile) lets the client read the answer: closing with its
        input unread would reset the connection and discard the answer."""
        self.refusal = refusal
        self._cancel_head_timer()
        self.edge.metrics.refuse(refusal.reason)
        log.info(
            "refused an HTTP request",
            extra={"status": refusal.status, "reason": refusal.reason, "client": self.client},
        )
        transport = self.transport
        if transport.is_closing():
            return
        body = (refusal.detail + "\n").encode()
        phrase = http.HTTPStatus(refusal.status).phrase
        transport.write(
            f"HTTP/1.1 {refusal.status} {phrase}\r\n"
            "content-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n".encode()
            + body
        )
        if not linger:
            transport.close()
            return
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, transport.close)

    # head timer

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.edge.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.refusal is not None or self.transport.is_closing():
            return
        if not self.head_begun:
            # Nothing sent at all (a browser's preconnect, a port probe): close quietly, as
            # an idle keep-alive connection is; a 408 there could be read as a reply to the
            # request a browser sends on it later.
            self.edge.metrics.refuse("head_timeout")
            self.transport.close()
            return
        detail = f"request head not complete within {self.edge.head_timeout:g} s"
        self._refuse(Refusal(408, detail, "head_timeout"))

    def handle_websocket_upgrade(self) -> None:
        self.edge.open.discard(self)  # a WebSocket now: MAX_CONNECTIONS counts it
        super().handle_websocket_upgrade()
