"""Prometheus text on a port of its own (``METRICS_PORT``).

The load balancer forwards only the main port, so nothing from the internet reaches this
one, whatever spelling of ``/metrics`` it tries (a listener rule matching the literal path
missed ``/%6detrics``, which the relay decodes). A scraper inside the network asks
``GET /metrics``; anything else is 404. One request per connection, a bounded head read
within a deadline, then close: this port serves a scraper, not browsers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from contract.protocol import METRICS_PATH

log = logging.getLogger("service.metrics_server")

HEAD_MAX_BYTES = 8192
HEAD_TIMEOUT_SECONDS = 5.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsServer:
    def __init__(self, render: Callable[[], bytes], host: str, port: int) -> None:
        self.render = render
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=HEAD_MAX_BYTES
        )
        log.info("serving metrics", extra={"port": self.port, "path": METRICS_PATH})

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_SECONDS)
            status, body = self._answer(head.split(b"\r\n", 1)[0])
            content_type = CONTENT_TYPE if status == 200 else "text/plain; charset=utf-8"
            writer.write(
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a half-sent or oversized request: close without an answer
        finally:
            writer.close()

    def _answer(self, request_line: bytes) -> tuple[int, bytes]:
        parts = request_line.decode("latin-1").split(" ")
        if len(parts) != 3 or parts[0] != "GET":
            return 404, b"GET /metrics only\n"
        if unquote(urlsplit(parts[1]).path) != METRICS_PATH:
            return 404, b"not found: metrics are at GET /metrics\n"
        return 200, self.render()
