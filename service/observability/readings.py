"""The metric table's values: one reader per ``contract.metrics.DEFINITIONS`` entry.

A reader takes the relay's snapshot (``Hub.snapshot()``: connections, rooms, the broker's
own counters) and the process's ``RelayMetrics`` and returns the metric's value: a number
for a gauge or counter, a count per label value for a labelled counter, the histogram
itself for a histogram. Prometheus and EMF both read through here, so a metric is defined
once (the contract) and read once (this table).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from contract.metrics import DEFINITIONS, MetricDefinition

from . import logs
from .counters import Histogram, RelayMetrics
from .snapshot import RelaySnapshot


class SnapshotSource(Protocol):
    """What the metrics read the relay's state from (the hub)."""

    def snapshot(self) -> RelaySnapshot: ...


Reading = int | Mapping[str, int] | Histogram
Reader = Callable[[RelaySnapshot, RelayMetrics], Reading]

_READERS: dict[str, Reader] = {
    "chat_relay_connections": lambda s, m: s.connections,
    "chat_relay_rooms": lambda s, m: s.rooms,
    "chat_relay_broker_ready": lambda s, m: int(s.broker.ready),
    "chat_relay_connections_opened": lambda s, m: m.connections_opened,
    "chat_relay_connections_closed": lambda s, m: {
        str(code): count for code, count in sorted(m.closed_by_code.items())
    },
    "chat_relay_connections_refused": lambda s, m: dict(sorted(m.refused.items())),
    "chat_relay_joins": lambda s, m: m.joins,
    "chat_relay_messages_received": lambda s, m: m.messages_in,
    "chat_relay_sends_unavailable": lambda s, m: m.send_unavailable,
    "chat_relay_messages_fanned_out": lambda s, m: m.messages_out,
    "chat_relay_deliveries": lambda s, m: {
        "message": m.deliveries,
        "presence": m.presence_deliveries,
    },
    "chat_relay_fanout_latency_seconds": lambda s, m: m.fanout_latency,
    "chat_relay_slow_consumer_closes": lambda s, m: m.slow_consumer_closes,
    "chat_relay_rate_limited_frames": lambda s, m: m.rate_limited,
    "chat_relay_redis_reconnects": lambda s, m: s.broker.reconnects,
    "chat_relay_redis_probe_failures": lambda s, m: s.broker.deaf_restarts,
    "chat_relay_backfilled_messages": lambda s, m: s.broker.backfilled,
    "chat_relay_event_loop_lag_seconds": lambda s, m: m.loop_lag,
    "chat_relay_log_lines_suppressed": lambda s, m: logs.suppressed_total(),
}
# A metric in the table without a reader (or the reverse) stops the relay at import.
_UNREAD = {d.prometheus for d in DEFINITIONS} ^ set(_READERS)
if _UNREAD:
    raise RuntimeError(f"metric table and readers disagree on {sorted(_UNREAD)}")


def read(definition: MetricDefinition, state: RelaySnapshot, metrics: RelayMetrics) -> Reading:
    return _READERS[definition.prometheus](state, metrics)


def total(reading: Reading, label_value: str | None = None) -> int:
    """A counter's value: itself, one label value's count, or the sum over labels."""
    if isinstance(reading, int):
        return reading
    if isinstance(reading, Histogram):
        raise TypeError("a histogram has no single total")
    return reading.get(label_value, 0) if label_value is not None else sum(reading.values())
