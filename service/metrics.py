"""The relay's metrics: plain counters on the hot path, Prometheus text at scrape time.

Fan-out runs for every frame to every local socket, so nothing there calls a metrics
library: the hub and the connections add to integer attributes of ``RelayMetrics``
(a few increments per frame, none per recipient), and ``RelayCollector`` turns them,
the hub's live state and the broker's own counters into metric families only when
``GET /metrics`` is scraped. ``service.emf`` reads the same numbers for CloudWatch.

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
import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from . import logs

if TYPE_CHECKING:
    from .hub import Hub

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Upper bounds in milliseconds. Dense below 250 ms (the fan-out p99 target), coarse above.
FANOUT_BOUNDS_MS = (1, 2, 3, 5, 7.5, 10, 15, 25, 35, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000)
LOOP_LAG_BOUNDS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
LOOP_LAG_INTERVAL = 0.5  # seconds between event-loop lag samples


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

    def snapshot(self) -> tuple[list[int], float, float]:
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

    @property
    def connections_closed(self) -> int:
        return sum(self.closed_by_code.values())


async def watch_loop_lag(metrics: RelayMetrics, interval: float = LOOP_LAG_INTERVAL) -> None:
    """Sample how late the event loop wakes a sleeper: time every socket waits too."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        metrics.loop_lag.observe(max(0.0, (loop.time() - start - interval) * 1000))


class RelayCollector:
    """Builds the metric families from the counters at scrape time."""

    def __init__(self, hub: Hub, metrics: RelayMetrics) -> None:
        self.hub = hub
        self.metrics = metrics

    def describe(self) -> Iterator[Metric]:
        return iter(())  # families vary (per close code); registering must not collect

    def collect(self) -> Iterator[Metric]:
        m, now = self.metrics, self.hub.snapshot()
        yield _gauge("chat_relay_connections", "Open WebSockets", now.connections)
        yield _gauge("chat_relay_rooms", "Rooms with local members", now.rooms)
        yield _gauge("chat_relay_broker_ready", "1 while the broker answers", int(now.broker.ready))
        yield _counter("chat_relay_connections_opened", "WebSockets accepted", m.connections_opened)
        closed = CounterMetricFamily(
            "chat_relay_connections_closed",
            "WebSockets ended, by close code (1006: no close frame)",
            labels=["code"],
        )
        for code, count in sorted(m.closed_by_code.items()):
            closed.add_metric([str(code)], count)
        yield closed
        refused = CounterMetricFamily(
            "chat_relay_connections_refused",
            "WebSocket handshakes and HTTP requests refused, by reason",
            labels=["reason"],
        )
        for reason, count in sorted(m.refused.items()):
            refused.add_metric([reason], count)
        yield refused
        yield _counter("chat_relay_joins", "Successful joins", m.joins)
        yield _counter(
            "chat_relay_messages_received", "Chat messages stored from local clients", m.messages_in
        )
        yield _counter(
            "chat_relay_sends_unavailable",
            "Sends refused because the broker was unreachable",
            m.send_unavailable,
        )
        yield _counter(
            "chat_relay_messages_fanned_out",
            "Chat messages fanned out to this process's sockets (once per message)",
            m.messages_out,
        )
        deliveries = CounterMetricFamily(
            "chat_relay_deliveries",
            "Frames queued to local sockets (one per recipient), by kind",
            labels=["kind"],
        )
        deliveries.add_metric(["message"], m.deliveries)
        deliveries.add_metric(["presence"], m.presence_deliveries)
        yield deliveries
        yield _histogram(
            "chat_relay_fanout_latency_seconds",
            "Message date (store clock) to local socket write, once per message per process",
            m.fanout_latency,
        )
        yield _counter(
            "chat_relay_slow_consumer_closes",
            "Clients closed with 1013 for falling SEND_BUFFER_BYTES behind",
            m.slow_consumer_closes,
        )
        yield _counter(
            "chat_relay_rate_limited_frames",
            "Client frames dropped by the rate limit",
            m.rate_limited,
        )
        yield _counter(
            "chat_relay_redis_reconnects",
            "Times the Redis subscriber lost its connection or failed to reconnect",
            now.broker.reconnects,
        )
        yield _counter(
            "chat_relay_redis_probe_failures",
            "Deaf-subscriber probes that failed (each restarts the subscriber)",
            now.broker.deaf_restarts,
        )
        yield _counter(
            "chat_relay_backfilled_messages",
            "Messages re-read from history after a subscriber reconnect",
            now.broker.backfilled,
        )
        yield _histogram(
            "chat_relay_event_loop_lag_seconds",
            f"How late the event loop wakes a {LOOP_LAG_INTERVAL:g} s timer",
            m.loop_lag,
        )
        yield _counter(
            "chat_relay_log_lines_suppressed",
            "Log lines dropped by the log rate limit",
            logs.suppressed_total(),
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _histogram(name: str, documentation: str, histogram: Histogram) -> HistogramMetricFamily:
    buckets: list[tuple[str, float]] = []
    cumulative = 0
    for bound, count in zip((*histogram.bounds, float("inf")), histogram.counts, strict=True):
        cumulative += count
        label = "+Inf" if bound == float("inf") else repr(bound / 1000)
        buckets.append((label, cumulative))
    return HistogramMetricFamily(
        name, documentation, buckets=buckets, sum_value=histogram.sum / 1000
    )


class PrometheusExposition:
    """``GET /metrics``: this process's metrics plus process CPU, memory and descriptors."""

    def __init__(self, hub: Hub, metrics: RelayMetrics) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(RelayCollector(hub, metrics))  # type: ignore[arg-type]
        with contextlib.suppress(Exception):  # /proc is Linux-only
            ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def families(exposition: PrometheusExposition) -> dict[str, Any]:
    """Name -> family, for tests and tools that read the registry in-process."""
    return {family.name: family for family in exposition.registry.collect()}
