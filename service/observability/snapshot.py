"""The relay's state at one instant: what the metrics (Prometheus and EMF) read.

The hub and the broker each describe themselves here, so the metrics never reach into
their attributes by name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BrokerStats:
    ready: bool  # the broker can store and deliver (drives /readyz)
    # Recovery paths taken since start (the Redis broker's; the memory broker has none).
    reconnects: int = 0
    deaf_restarts: int = 0
    backfilled: int = 0


@dataclass(frozen=True, slots=True)
class RelaySnapshot:
    connections: int  # open WebSockets in this process
    rooms: int  # rooms with a local connection
    broker: BrokerStats
