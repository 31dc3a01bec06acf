"""The outbox: a bounded buffer of events and the background tasks that send it in batches.

``add`` never blocks and never raises: the chat calls it inline. Workers take up to
``MAX_ENTRIES_PER_PUT`` entries at a time and hand them to the sender (PutEvents runs in a
thread). When a whole call fails (the bus unreachable, throttled, refusing), its entries
go back to the front of the buffer and the worker backs off, doubling up to
``BACKOFF_MAX``; entries EventBridge refuses one by one are retried the same way, up to
``MAX_ENTRY_ATTEMPTS``. The buffer holds ``capacity`` events counting those in flight;
an event that finds it full is dropped, counted (``events_dropped``) and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from contract.events import MAX_ENTRIES_PER_PUT

from ..observability.counters import RelayMetrics

log = logging.getLogger("service.events_out")

BACKOFF_FIRST = 0.2  # seconds before the first retry of a failed call
BACKOFF_MAX = 5.0  # at most this long between retries: a bus back up is used within it
MAX_ENTRY_ATTEMPTS = 8  # an entry EventBridge keeps refusing by itself is given up
WORKERS = 4  # PutEvents calls in flight at once (each ~tens of ms; one thread each)


class Sender(Protocol):
    async def put(self, entries: Sequence[dict[str, Any]]) -> list[str | None]:
        """Send one batch; per entry None (accepted) or its error code. Raises when the
        call as a whole failed."""

    def close(self) -> None:
        """No more calls (the outbox has stopped its workers)."""


@dataclass(slots=True)
class _Pending:
    entry: dict[str, Any]
    attempts: int = 0


@dataclass(slots=True)
class _State:
    last_error: str | None = None
    failing_since: float | None = None
    in_flight: int = 0
    workers: list[asyncio.Task[None]] = field(default_factory=list)


class Outbox:
    def __init__(
        self,
        sender: Sender,
        capacity: int,
        metrics: RelayMetrics,
        *,
        backoff_first: float = BACKOFF_FIRST,
        backoff_max: float = BACKOFF_MAX,
        workers: int = WORKERS,
    ) -> None:
        self._sender = sender
        self._capacity = capacity
        self._metrics = metrics
        self._backoff_first = backoff_first
        self._backoff_max = backoff_max
        self._worker_count = workers
        self._buffer: deque[_Pending] = deque()
        self._ready = asyncio.Event()  # set: the buffer has something to send
        self._idle = asyncio.Event()  # set: nothing buffered or in flight
        self._idle.set()
        self._state = _State()

    # the chat's side: inline, cheap, never raises

    def add(self, entry: dict[str, Any]) -> bool:
        """Queue one PutEvents entry; False (dropped, counted, logged) when the buffer is full."""
        if len(self._buffer) + self._state.in_flight >= self._capacity:
            self._drop(entry, "buffer full")
            return False
        self._buffer.append(_Pending(entry))
        self._metrics.events_buffered += 1
        self._ready.set()
        self._idle.clear()
        return True

    @property
    def pending(self) -> int:
        """Events not yet accepted by the bus: buffered or in flight."""
        return len(self._buffer) + self._state.in_flight

    # the background side

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._state.workers = [
            loop.create_task(self._work(), name=f"events-out-{n}")
            for n in range(self._worker_count)
        ]

    async def close(self, timeout: float) -> None:
        """Give the workers ``timeout`` seconds to send what is left, then stop them."""
        if self._state.workers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)
        for worker in self._state.workers:
            worker.cancel()
        for worker in self._state.workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._state.workers = []
        self._sender.close()
        if self.pending:
            log.warning("events not sent before shutdown", extra={"events": self.pending})

    async def _work(self) -> None:
        delay = 0.0
        while True:
            if delay:
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter: no herd
            while not self._buffer:
                self._ready.clear()
                await self._ready.wait()
            batch = [
                self._buffer.popleft() for _ in range(min(MAX_ENTRIES_PER_PUT, len(self._buffer)))
            ]
            self._state.in_flight += len(batch)
            try:
                retry = await self._send(batch)
            finally:
                self._state.in_flight -= len(batch)
            # What failed goes back to the front, in order, ahead of newer events.
            self._buffer.extendleft(reversed(retry))
            self._metrics.events_buffered = len(self._buffer) + self._state.in_flight
            if not self.pending:
                self._idle.set()
            if retry:
                self._ready.set()
                delay = min(self._backoff_max, max(self._backoff_first, delay * 2))
            else:
                delay = 0.0

    async def _send(self, batch: list[_Pending]) -> list[_Pending]:
        """Send one batch; returns the entries to retry."""
        metrics = self._metrics
        try:
            errors = await self._sender.put([p.entry for p in batch])
        except asyncio.CancelledError:
            self._buffer.extendleft(reversed(batch))  # shutdown: keep them counted as pending
            raise
        except Exception as exc:  # whatever the bus or the network did: retried, never raised
            self._failing(f"{type(exc).__name__}: {exc}")
            metrics.events_retried += len(batch)
            return batch
        retry: list[_Pending] = []
        for pending, error in zip(batch, errors, strict=True):
            if error is None:
                metrics.events_sent += 1
                continue
            pending.attempts += 1
            if pending.attempts >= MAX_ENTRY_ATTEMPTS:
                self._drop(pending.entry, f"refused {pending.attempts} times: {error}")
            else:
                metrics.events_retried += 1
                retry.append(pending)
        if retry:
            self._failing(f"{len(retry)} entries refused: {errors}")
        else:
            self._recovered()
        return retry

    def _failing(self, error: str) -> None:
        state = self._state
        if state.failing_since is None:
            state.failing_since = asyncio.get_running_loop().time()
            log.warning("sending events failed; retrying with backoff", extra={"error": error})
        state.last_error = error

    def _recovered(self) -> None:
        state = self._state
        if state.failing_since is not None:
            seconds = asyncio.get_running_loop().time() - state.failing_since
            log.info("sending events again", extra={"seconds": round(seconds, 3)})
            state.failing_since = None
            state.last_error = None

    def _drop(self, entry: dict[str, Any], reason: str) -> None:
        self._metrics.events_dropped += 1
        # Never the detail: it holds chat text, which the relay does not log.
        log.warning(
            "event dropped",
            extra={
                "reason": reason,
                "type": entry.get("DetailType"),
                "dropped_total": self._metrics.events_dropped,
            },
        )
