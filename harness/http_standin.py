"""The plumbing every loopback HTTP stand-in shares: a threaded HTTP server on 127.0.0.1,
served from a daemon thread, stopped by whoever started it, and a quiet request handler
with one way to answer.

The stand-ins (`alb_identity.KeyEndpoint`, `ecs.EcsStandIn`, `aws_standin.EcsStopProxy`)
only say what they answer; the port is picked when the stand-in is made, so its URL can go
into a relay's settings before it starts, and it can be started again on the same port.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.ports import free_port


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers with `reply`."""

    def reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class LoopbackHTTPServer:
    """`handler` served on 127.0.0.1:`port` (a free one by default) from a thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self.handler = handler
        self.port = port or free_port()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackHTTPServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> LoopbackHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
