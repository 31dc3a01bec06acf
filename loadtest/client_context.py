"""What every simulated client of one worker shares (the plan, the clock, the tally), and
why a connect and join can fail, each with a short countable name."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from loadtest.plan import NS_PER_S, RunPlan
from loadtest.stamp import text_prefix
from loadtest.stats import Tally
from loadtest.wire import HandshakeFailed


class JoinRejected(Exception):
    """The relay answered the join with an error frame instead of a welcome."""


@dataclass
class ClientContext:
    """What every client of one worker shares: the plan, the clock and the tally."""

    plan: RunPlan
    t0_ns: int
    tally: Tally
    ssl_context: ssl.SSLContext | None = None
    # Set once by the worker when the run ends; an Event, read afresh after every await.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    prefix: str = ""
    room_index: dict[str, int] = field(default_factory=dict)  # room name -> room
    senders: frozenset[int] = frozenset()
    measure_start: int = 0
    measure_end: int = 0
    window_ns: int = 1

    def __post_init__(self) -> None:
        self.prefix = text_prefix(self.plan.run_id)
        self.room_index = {self.plan.room_name(r): r for r in range(self.plan.rooms)}
        self.senders = frozenset(self.plan.sender_ranks())
        self.measure_start = self.t0_ns + self.plan.measure_start_ns
        self.measure_end = self.t0_ns + self.plan.measure_end_ns
        self.window_ns = int(self.plan.window * NS_PER_S)


class ClosedDuringJoin(Exception):
    """The relay closed the connection before the join completed."""


def connect_error_name(exc: BaseException) -> str:
    """A short, countable name for why a connect + join failed."""
    if isinstance(exc, HandshakeFailed):
        return f"http_{exc.status}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, JoinRejected):
        return f"join_{exc}"
    if isinstance(exc, ClosedDuringJoin):
        return f"closed_{exc}"
    return type(exc).__name__
