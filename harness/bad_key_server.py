"""A key endpoint that answers badly, on loopback: what a relay must survive when the ALB's
key endpoint (or something in front of it) misbehaves.

Each ``/<kid>`` gets the answer its ``BadKeyServer`` was made for:

- ``garbage``: bytes that are not HTTP at all (``http.client.BadStatusLine``);
- ``truncated``: a 200 whose chunk promises more body than it sends, then hangs up
  (``http.client.IncompleteRead``);
- ``redirect``: a 302 to a URL that *would* serve the right key (it must not be followed);
- ``silent``: accepts the connection and says nothing until the server stops.
"""

from __future__ import annotations

import threading
from typing import Literal

from harness.http_standin import LoopbackHTTPServer, QuietHandler

BadAnswer = Literal["garbage", "truncated", "redirect", "silent"]
BAD_ANSWERS: tuple[BadAnswer, ...] = ("garbage", "truncated", "redirect", "silent")


class BadKeyServer:
    """Answers every key request with ``answer``; counts the requests."""

    def __init__(self, answer: BadAnswer, redirect_to: str = "http://127.0.0.1:9/") -> None:
        self.answer = answer
        self.requests: list[str] = []
        self._stopping = threading.Event()
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server names
                kid = self.path.lstrip("/")
                server.requests.append(kid)
                if server.answer == "garbage":
                    self.wfile.write(b"\x00\xff not http at all \r\n\r\n")
                elif server.answer == "truncated":
                    self.wfile.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-pem-file\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                        b"190\r\n-----BEGIN PUBLIC KEY-----\nMFkw"
                    )
                elif server.answer == "redirect":
                    self.reply(302, b"", {"Location": f"{redirect_to}{kid}"})
                else:  # silent: hold the connection until the server stops
                    server._stopping.wait(60)
                self.close_connection = True

        self.server = LoopbackHTTPServer(Handler)

    @property
    def url(self) -> str:
        return f"{self.server.url}/"

    def __enter__(self) -> BadKeyServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.server.stop()
