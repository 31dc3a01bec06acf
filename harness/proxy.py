"""A loopback TCP proxy that can turn existing connections deaf.

``blackhole()`` stops forwarding server-to-client bytes on every connection open
at that moment, while keeping both sockets open: the half-open state a
subscriber can be left in after a failover, which no socket error reveals.
Connections made afterwards are forwarded normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from harness.ports import free_port


class DeafeningProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._deaf: set[int] = set()
        self._live: dict[int, asyncio.StreamWriter] = {}
        self._next = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> DeafeningProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        future.result(10)
        return self

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._next += 1
        number = self._next
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            writer.close()
            return
        self._live[number] = writer

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, down: bool
        ) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(65536):
                    if down and number in self._deaf:
                        continue  # swallowed: the client hears nothing, sees no error
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError):
                sink.close()

        await asyncio.gather(
            pump(reader, upstream_writer, down=False),
            pump(upstream_reader, writer, down=True),
        )
        self._live.pop(number, None)

    def blackhole(self) -> int:
        """Deafen every connection open now; returns how many."""

        async def deafen() -> int:
            self._deaf.update(self._live)
            return len(self._live)

        return asyncio.run_coroutine_threadsafe(deafen(), self._loop).result(5)

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._live.values()):
                writer.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> DeafeningProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
