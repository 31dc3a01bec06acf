"""Traffic for fault tests: clients that record everything, senders that never give up.

A ``Listener`` reads in the background and keeps the message ids it received, in
order, and where the relay signalled a gap (``resync``). A ``Sender`` posts
numbered messages with a ``ref`` and retries the same ref until it is
acknowledged, across errors and reconnects: what it reports as acknowledged was
stored exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from harness.client import ChatClient
from harness.losses import Arrivals


@dataclass
class Listener:
    url: str
    room: str
    arrivals: Arrivals = field(default_factory=Arrivals)
    texts: list[str] = field(default_factory=list)
    resyncs: list[int] = field(default_factory=list)  # positions in ids where a gap was signalled
    close_codes: list[int | None] = field(default_factory=list)
    token: str | None = None
    client: ChatClient | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def ids(self) -> list[str]:
        """Message ids received, each once, in arrival order."""
        return self.arrivals.ids

    async def start(self, since: str | None = None) -> Listener:
        self.client = await ChatClient.connect(self.url)
        fields = {"since": since} if since else {}
        if self.token:
            fields["token"] = self.token
        joined = await self.client.join(self.room, **fields)
        self.token = joined.token
        for message in joined.history["messages"]:
            self._record(message)
        self._task = asyncio.create_task(self._read())
        return self

    def _record(self, message: dict[str, Any]) -> None:
        if self.arrivals.record(message["id"]):
            self.texts.append(message["text"])

    async def _read(self) -> None:
        assert self.client is not None
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.client.frames():
                if frame["type"] == "messages":
                    self._record(frame["message"])
                elif frame["type"] == "resync":
                    self.resyncs.append(len(self.ids))
        self.close_codes.append(self.client.ws.close_code)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            await self.client.close()


@dataclass
class Sender:
    url: str
    room: str
    name: str
    padding: int = 0  # extra characters per message, to move more bytes
    acked: dict[str, str] = field(default_factory=dict)  # ref -> message id
    retries: int = 0
    reconnects: int = 0

    async def send(self, count: int, interval: float, deadline: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + deadline
        client: ChatClient | None = None
        token: str | None = None
        index = 0
        while index < count:
            if loop.time() > give_up:
                raise TimeoutError(f"{self.name}: {count - index} messages never acknowledged")
            ref = f"{self.name}-{index}"
            try:
                if client is None:
                    client = await ChatClient.connect(self.url)
                    fields = {"token": token} if token else {}
                    token = (await client.join(self.room, **fields)).token
                text = f"{ref} {'x' * self.padding}" if self.padding else ref
                await client.send({"type": "send", "text": text, "ref": ref})
                frame = await self._answer(client, ref)
            except (OSError, ConnectionClosed, TimeoutError, AssertionError):
                frame = None
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.close()
                client = None
                self.reconnects += 1
            if frame is not None and frame["type"] == "ack":
                self.acked[ref] = frame["id"]
                index += 1
                await asyncio.sleep(interval)
            else:
                self.retries += 1
                await asyncio.sleep(0.2)
        if client is not None:
            await client.close()

    @staticmethod
    async def _answer(client: ChatClient, ref: str) -> dict[str, Any] | None:
        """The ack for ``ref``, or None when the relay answered with an error."""
        while True:
            frame = await client.recv(timeout=6)
            if frame["type"] == "ack" and frame["ref"] == ref:
                return frame
            if frame["type"] == "error":
                return None


def acked_in_order(senders: list[Sender]) -> list[str]:
    """Every message id the senders got an ack for, oldest first (ids order as integer pairs)."""
    return sorted(
        {i for s in senders for i in s.acked.values()},
        key=lambda i: tuple(map(int, i.split("-"))),
    )


def check_delivery(listener: Listener, acked_ids: list[str]) -> dict[str, int]:
    """Every acknowledged message reached the listener, or a gap was signalled. Never silent."""
    delivery = listener.arrivals.against(acked_ids)
    return {
        "acked": delivery.expected,
        "received": delivery.delivered,
        "missing": delivery.lost,
        "gaps_signalled": len(listener.resyncs),
        "duplicates": delivery.duplicated,
        "in_order": int(delivery.out_of_order == 0),
    }
