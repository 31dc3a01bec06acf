"""Open-loop timing: when each client connects and when each sender's messages are due.

Messages are due on a fixed grid whatever the server does, and each is stamped with the
time it was due: a stalled server cannot lower the offered load or hide its latency
(coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from loadtest.plan import NS_PER_S


def due_times(first_ns: int, rate: float, rank: int, senders: int) -> Iterator[tuple[int, int]]:
    """Yield (seq, due_ns) forever for sender `rank`; phases spread senders over a period."""
    period_ns = NS_PER_S / rate
    # Half a step off the grid: no message is due exactly on a phase boundary, where an
    # early timer could move it from the measurement into the warm-up.
    phase_ns = period_ns * (rank + 0.5) / senders
    seq = 0
    while True:
        yield seq, first_ns + int(phase_ns + seq * period_ns)
        seq += 1


def stamp_for(due_ns: int, now_ns: int) -> int:
    """The time a message carries: when it was due, unless the timer woke us early.

    A late send keeps its due time, so the delay counts against latency; an early one (uvloop
    rounds timers to whole milliseconds) carries its real send time, never a later one.
    """
    return min(due_ns, now_ns)


async def sleep_until(when_ns: int) -> None:
    delay = (when_ns - time.monotonic_ns()) / NS_PER_S
    if delay > 0:
        await asyncio.sleep(delay)
