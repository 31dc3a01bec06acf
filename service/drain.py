"""Graceful drain on SIGTERM: fail readiness, stop accepting, close clients in batches.

uvicorn's own shutdown sends 1012 to every socket at once; a relay with thousands
of clients would then send them all to the other tasks in the same instant. The
drain spreads the closes over part of DRAIN_SECONDS, so reconnects (which clients
also jitter) arrive as a ramp, and leaves the rest of the budget for sessions to
remove their presence before the process exits, well inside ECS's stopTimeout.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from . import protocol
from .app import Relay

log = logging.getLogger("service.drain")

BATCH_SIZE = 200
# Share of DRAIN_SECONDS used to spread closes; the rest is for cleanup and exit.
SPREAD_SHARE = 0.5


async def close_in_batches(relay: Relay) -> None:
    connections = list(relay.hub.connections)
    if not connections:
        return
    batches = [connections[i : i + BATCH_SIZE] for i in range(0, len(connections), BATCH_SIZE)]
    pause = (relay.settings.drain_seconds * SPREAD_SHARE) / len(batches)
    pause = min(pause, 1.0)
    log.info("draining %d connections in %d batches", len(connections), len(batches))
    for index, batch in enumerate(batches):
        await asyncio.gather(
            *(c.close(protocol.CLOSE_RESTARTING, "server restarting") for c in batch)
        )
        if index + 1 < len(batches):
            await asyncio.sleep(pause)


class DrainingServer(uvicorn.Server):
    """uvicorn.Server whose shutdown drains the relay before uvicorn's own steps."""

    def __init__(self, config: uvicorn.Config, relay: Relay) -> None:
        super().__init__(config)
        self.relay = relay

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.relay.draining = True  # /readyz answers 503 from now on
        for server in self.servers:
            server.close()  # stop accepting; established sockets stay
        try:
            await asyncio.wait_for(close_in_batches(self.relay), self.relay.settings.drain_seconds)
        except TimeoutError:
            log.warning("drain budget spent; uvicorn closes the remaining sockets")
        await super().shutdown(sockets)
