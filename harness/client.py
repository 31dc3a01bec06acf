"""The protocol-v1 client of tests and benchmarks, over a real WebSocket.

One client for every use: `join` (with `token` / `since` to resume), `subscribe` and
`unsubscribe` (more rooms on the one socket), `say` (send and await the ack), `recv` and
`recv_type` (frames of other kinds, or other rooms, kept for later reads), `frames`
(every frame until the server closes), `closed_with`. Cookies sent with the upgrade and
those the server (or a balancer in front) sets are kept in `cookies`, as a browser keeps
a sticky cookie. Every read has a timeout except `frames`, which ends when the socket does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

RECV_TIMEOUT = 10.0

Frame = dict[str, Any]  # one decoded protocol-v1 frame (docs/protocol.md)


def decode(raw: str | bytes) -> Frame:
    """One server frame: a JSON object, as every server frame is."""
    frame = orjson.loads(raw)
    if not isinstance(frame, dict):
        raise ValueError(f"not a protocol frame: {frame!r}")
    return frame


@dataclass
class Joined:
    welcome: dict[str, Any]
    members: dict[str, Any]
    history: dict[str, Any]

    @property
    def member(self) -> dict[str, Any]:
        member: dict[str, Any] = self.welcome["member"]
        return member

    @property
    def token(self) -> str:
        token: str = self.welcome["token"]
        return token


class ChatClient:
    def __init__(self, ws: ClientConnection, cookies: Mapping[str, str] | None = None) -> None:
        self.ws = ws
        self.backlog: list[dict[str, Any]] = []  # frames skipped by recv_type, oldest first
        self.cookies = dict(cookies or {})
        for header in ws.response.headers.get_all("Set-Cookie") if ws.response else ():
            name, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()

    @classmethod
    async def connect(
        cls, url: str, *, cookies: Mapping[str, str] | None = None, **kwargs: Any
    ) -> ChatClient:
        """Open the WebSocket (no compression, as browsers here); `kwargs` go to
        `websockets.connect`; `cookies` go in a Cookie header."""
        if cookies:
            cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
            kwargs["additional_headers"] = {
                **kwargs.get("additional_headers", {}),
                "Cookie": cookie,
            }
        kwargs.setdefault("open_timeout", 10)
        ws = await connect(url, compression=None, **kwargs)
        return cls(ws, cookies)

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def recv(self, timeout: float = RECV_TIMEOUT) -> dict[str, Any]:
        if self.backlog:
            return self.backlog.pop(0)
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        return decode(raw)

    async def frames(self) -> AsyncIterator[dict[str, Any]]:
        """Every frame, kept ones first, until the server closes (a normal close ends the
        iteration, any other raises ConnectionClosed)."""
        while self.backlog:
            yield self.backlog.pop(0)
        async for raw in self.ws:
            yield decode(raw)

    async def recv_type(
        self, kind: str, timeout: float = RECV_TIMEOUT, room: str | None = None
    ) -> dict[str, Any]:
        """Next frame of ``kind`` (and of ``room``, when given); other frames are kept for
        later reads."""

        def wanted(frame: Frame) -> bool:
            return frame["type"] == kind and (room is None or frame.get("room") == room)

        for index, frame in enumerate(self.backlog):
            if wanted(frame):
                return self.backlog.pop(index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - loop.time()))
            frame = decode(raw)
            if wanted(frame):
                return frame
            self.backlog.append(frame)

    async def join(self, room: str | None = None, **fields: Any) -> Joined:
        frame: dict[str, Any] = {"type": "join", **fields}
        if room is not None:
            frame["room"] = room
        await self.send(frame)
        welcome = await self.recv()
        assert welcome["type"] == "welcome", welcome
        members = await self.recv()
        assert members["type"] == "member_history", members
        history = await self.recv()
        assert history["type"] == "message_history", history
        return Joined(welcome, members, history)

    async def subscribe(self, room: str, **fields: Any) -> Joined:
        """One more room on this socket (after the join): its welcome, members and history.
        Frames of other rooms that arrive meanwhile are kept for later reads."""
        await self.send({"type": "subscribe", "room": room, **fields})
        welcome = await self.recv_type("welcome", room=room)
        members = await self.recv_type("member_history", room=room)
        history = await self.recv_type("message_history", room=room)
        return Joined(welcome, members, history)

    async def unsubscribe(self, room: str) -> None:
        """Leave one room; returns once the relay has handled it (a ping answered after it)."""
        await self.send({"type": "unsubscribe", "room": room})
        await self.send({"type": "ping"})
        await self.recv_type("pong")

    async def say(
        self, text: str, ref: str | None = None, room: str | None = None
    ) -> dict[str, Any]:
        """Send a message (to ``room``, default the join's) and return its ack."""
        frame: dict[str, Any] = {"type": "send", "text": text}
        if ref is not None:
            frame["ref"] = ref
        if room is not None:
            frame["room"] = room
        await self.send(frame)
        return await self.recv_type("ack", room=room)

    async def closed_with(self, timeout: float = RECV_TIMEOUT) -> int | None:
        """Read (and drop) frames until the server closes; return its close code."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - loop.time()))
        except ConnectionClosed:
            return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
