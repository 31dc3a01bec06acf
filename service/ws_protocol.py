"""uvicorn's sans-I/O WebSocket protocol with lighter per-connection waiting primitives.

An idle connection lives for hours, and uvicorn gives each an `asyncio.Queue` (three deques
and an Event with a fourth, each deque with a 64-slot block: ~3.3 KiB) for frames that
arrive a few times a minute, and an `asyncio.Event` (~0.9 KiB) for a write buffer that is
almost never full (tracemalloc, docs/benchmarks.md "What an idle connection holds"). Here
both are replaced with objects that allocate only while something waits or is queued, with
the same methods uvicorn calls (`put_nowait`, `get`, `empty`; `set`, `clear`, `wait`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class LeanQueue:
    """FIFO for one reader (uvicorn's ASGI `receive`); its deque exists only while it holds
    something."""

    __slots__ = ("_getter", "_items")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._getter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    async def get(self) -> Any:
        while not self._items:
            if self._getter is not None:
                raise RuntimeError("LeanQueue has one reader; another get() is waiting")
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None  # the 64-slot block goes until the next frame
        return item


class LeanEvent:
    """asyncio.Event's set/clear/is_set/wait; waiters are kept only while there are some."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """The relay's WebSocket protocol: uvicorn's, with `LeanQueue` and `LeanEvent`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()
