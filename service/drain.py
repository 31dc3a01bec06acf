"""Graceful drain: fail readiness, refuse new joins, close clients with 1012 spread out.

A drain starts once per process, from whichever comes first:

- the load balancer deregistering this task (``service.deregistration`` sees the target
  turn ``draining``): the balancer still carries every connection but sends no new ones,
  so the closes are spread evenly over all of ``DRAIN_SECONDS`` and each client moves to
  another task while this one still serves it. The listener stays open (the balancer's
  in-flight requests finish); SIGTERM comes later and finds nothing left to close.
- SIGTERM, when nothing announced it (a task stopped by other means, a laptop): closes
  are spread over half of ``DRAIN_SECONDS``, the rest is for presence removal and exit,
  well inside ECS's stopTimeout.

uvicorn's own shutdown sends 1012 to every socket at once; a relay with thousands of
clients would then send them all to the other tasks in the same instant.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from typing import Protocol

import uvicorn

from contract.protocol import CLOSE_RESTARTING

from .config import Settings
from .hub import Hub

log = logging.getLogger("service.drain")

# Closes go out in small batches this far apart: an even ramp of reconnects, not steps.
TICK_SECONDS = 0.1
# Share of DRAIN_SECONDS a SIGTERM drain uses to spread closes; the rest is cleanup and exit.
SIGTERM_SPREAD_SHARE = 0.5


class Relay(Protocol):
    """What a drain needs of the relay (service.app.Relay): its connections, its drain
    window, and the flag that makes /readyz answer 503 and refuses new joins."""

    hub: Hub
    settings: Settings
    draining: bool
    drain: Drain


async def close_spread(relay: Relay, window: float) -> None:
    """Close every connection with 1012, evenly over ``window`` seconds."""
    connections = list(relay.hub.connections)
    if not connections:
        return
    ticks = max(1, int(window / TICK_SECONDS))
    batch_size = math.ceil(len(connections) / ticks)
    batches = [connections[i : i + batch_size] for i in range(0, len(connections), batch_size)]
    pause = window / len(batches)
    log.info(
        "draining %d connections in %d batches over %.1f s",
        len(connections),
        len(batches),
        window,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    closing: list[asyncio.Task[None]] = []
    progress = DrainProgress(len(connections), started)
    for index, batch in enumerate(batches):
        # Not awaited here: a client slow to answer its close must not hold back the next
        # batch and then release several at once.
        closing += [loop.create_task(c.close(CLOSE_RESTARTING, "server restarting")) for c in batch]
        progress.sent(len(batch), loop.time())
        await asyncio.sleep(max(0.0, started + (index + 1) * pause - loop.time()))
    progress.flush(loop.time())
    await asyncio.gather(*closing)


class DrainProgress:
    """One `drain progress` line per second of a drain: closes sent in it, and what remains."""

    def __init__(self, total: int, now: float) -> None:
        self.remaining = total
        self.second_started = now
        self.in_second = 0

    def sent(self, count: int, now: float) -> None:
        if now - self.second_started >= 1.0:
            self.flush(now)
        self.in_second += count
        self.remaining -= count

    def flush(self, now: float) -> None:
        if self.in_second:
            log.info(
                "drain progress",
                extra={"closes": self.in_second, "remaining": self.remaining},
            )
        self.second_started, self.in_second = now, 0


class Drain:
    """The process's one drain; ``start`` is idempotent and returns the running drain."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.task: asyncio.Task[None] | None = None
        self.reason: str | None = None

    def start(self, reason: str, window: float) -> asyncio.Task[None]:
        if self.task is None:
            self.reason = reason
            self.relay.draining = True  # /readyz answers 503 and joins are refused from now on
            log.warning("drain started", extra={"reason": reason, "seconds": window})
            self.task = asyncio.get_running_loop().create_task(
                close_spread(self.relay, window), name=f"drain-{reason}"
            )
            self.task.add_done_callback(_log_failure)
        return self.task


class DrainingServer(uvicorn.Server):
    """uvicorn.Server whose shutdown drains the relay before uvicorn's own steps."""

    def __init__(self, config: uvicorn.Config, relay: Relay) -> None:
        super().__init__(config)
        self.relay = relay

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        budget = self.relay.settings.drain_seconds
        drain = self.relay.drain.start("sigterm", budget * SIGTERM_SPREAD_SHARE)
        for server in self.servers:
            server.close()  # stop accepting; established sockets stay
        try:
            # An early drain (deregistration) may still be closing; it ends within its window.
            await asyncio.wait_for(asyncio.shield(drain), budget)
        except TimeoutError:
            log.warning("drain budget spent; uvicorn closes the remaining sockets")
        except Exception:  # already logged by _log_failure; uvicorn still shuts down
            pass
        await super().shutdown(sockets)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("drain failed", exc_info=task.exception())
