"""What the relay counts: plain integers and histograms, cheap enough for the hot path.

Fan-out runs for every frame to every local socket, so nothing there calls a metrics
library: the hub and the connections add to integer attributes of ``RelayMetrics``
(a few increments per frame, none per recipient). ``service.readings`` turns them and
the relay's snapshot into the values the metric table names; ``service.metrics``
(Prometheus) and ``service.emf`` (CloudWatch) only format those.

Fan-out latency is measured once per message per process: from the message's
``date`` (the millisecond part of its id, stamped by the store: Redis's clock, or this
process's in single-server mode) to the end of the event-loop iteration that handed
its bytes to every local socket (``WriteCoalescer.flush``). It covers the Redis hop,
the subscriber, the hub and the wait for the write; not the network to the client.
A backfilled message counts with its real delay.
"""

from __future__ import annotations

import asyncio
import bisect
import time

from contract.metrics import LOOP_LAG_SAMPLE_SECONDS

# Upper bounds in milliseconds. Dense below 250 ms (the fan-out p99 target), coarse above.
FANOUT_BOUNDS_MS = (1, 2, 3, 5, 7.5, 10, 15, 25, 35, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000)
LOOP_LAG_BOUNDS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
LOOP_LAG_INTERVAL = LOOP_LAG_SAMPLE_SECONDS  # seconds between event-loop lag samples

# (bucket counts, sum, max) of a histogram at one instant.
HistogramSnapshot = tuple[list[int], float, float]


class Histogram:
    """Cumulative bucket counts in milliseconds; one bisect per observation."""

    __slots__ = ("bounds", "counts", "max", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.max = 0.0

    def observe(self, value_ms: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value_ms)] += 1
        self.sum += value_ms
        if value_ms > self.max:
            self.max = value_ms

    @property
    def count(self) -> int:
        return sum(self.counts)

    def snapshot(self) -> HistogramSnapshot:
        """(bucket counts, sum, max) to diff against later for one interval."""
        snap = (list(self.counts), self.sum, self.max)
        self.max = 0.0  # max is per interval: whoever snapshots (EMF) starts a new one
        return snap


def quantile(bounds: tuple[float, ...], counts: list[int], q: float, top: float) -> float | None:
    """Estimate a quantile from bucket counts (linear inside the bucket, as Prometheus's
    histogram_quantile); ``top`` (the observed max) caps the +Inf bucket. None if empty."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            low = bounds[index - 1] if index > 0 else 0.0
            high = bounds[index] if index < len(bounds) else max(top, low)
            estimate = low + (high - low) * (rank - seen) / count
            return min(estimate, top)
        seen += count
    return top


class RelayMetrics:
    """Counters one relay process keeps. Attributes are plain ints for the hot path."""

    __slots__ = (
        "closed_by_code",
        "connections_opened",
        "deliveries",
        "fanout_latency",
        "fanout_stamps",
        "joins",
        "loop_lag",
        "messages_in",
        "messages_out",
        "presence_deliveries",
        "rate_limited",
        "refused",
        "send_unavailable",
        "slow_consumer_closes",
    )

    def __init__(self) -> None:
        self.connections_opened = 0
        self.closed_by_code: dict[int, int] = {}
        self.refused: dict[str, int] = {}
        self.joins = 0
        self.messages_in = 0
        self.send_unavailable = 0
        self.messages_out = 0
        self.deliveries = 0
        self.presence_deliveries = 0
        self.slow_consumer_closes = 0
        self.rate_limited = 0
        self.fanout_latency = Histogram(FANOUT_BOUNDS_MS)
        # Message dates (ms) queued this loop iteration; observed when the writes are done.
        self.fanout_stamps: list[int] = []
        self.loop_lag = Histogram(LOOP_LAG_BOUNDS_MS)

    def closed(self, code: int) -> None:
        self.closed_by_code[code] = self.closed_by_code.get(code, 0) + 1

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def observe_fanout(self) -> None:
        """Called once per loop iteration after the writes: one clock read for them all."""
        stamps, self.fanout_stamps = self.fanout_stamps, []
        now_ms = time.time() * 1000
        histogram = self.fanout_latency
        for stamp in stamps:
            histogram.observe(max(0.0, now_ms - stamp))


async def watch_loop_lag(metrics: RelayMetrics, interval: float = LOOP_LAG_INTERVAL) -> None:
    """Sample how late the event loop wakes a sleeper: time every socket waits too."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        metrics.loop_lag.observe(max(0.0, (loop.time() - start - interval) * 1000))
