"""The relay's metrics, defined once: Prometheus name and help, EMF name and unit.

The relay serves every ``DEFINITIONS`` entry at ``GET /metrics``
(service/observability/metrics.py) and prints the ones with ``emf`` entries as CloudWatch
Embedded Metric Format lines (service/observability/emf.py). The stacks' dashboards,
alarms and the Connections scaling policy read
the EMF metrics by these constants, so renaming one here renames it everywhere at once.

EMF carries two dimension sets in ``NAMESPACE`` (or METRICS_NAMESPACE): ``ServiceName``
for every EMF metric, and ``ServiceName, TaskId`` for the few marked ``per_task`` (each
task id is a new CloudWatch metric, so that set stays small). Counters go out as the change
over the interval, gauges as their value, histograms as the interval's p50, p99 and
maximum in milliseconds (a statistic with no samples is left out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

NAMESPACE: Final = "ChatRelay"  # the default of METRICS_NAMESPACE
SERVICE_NAME_DIMENSION: Final = "ServiceName"
TASK_ID_DIMENSION: Final = "TaskId"
SERVICE_DIMENSIONS: Final = (SERVICE_NAME_DIMENSION,)
TASK_DIMENSIONS: Final = (SERVICE_NAME_DIMENSION, TASK_ID_DIMENSION)

# How often the relay samples its event loop's lag (the loop-lag histogram's help says it).
LOOP_LAG_SAMPLE_SECONDS: Final = 0.5

Unit = Literal["Count", "Milliseconds", "None"]
Kind = Literal["counter", "gauge", "histogram"]
Statistic = Literal["p50", "p99", "max"]

COUNT: Final[Unit] = "Count"
MILLISECONDS: Final[Unit] = "Milliseconds"
NO_UNIT: Final[Unit] = "None"


@dataclass(frozen=True, slots=True)
class EmfMetric:
    name: str
    unit: Unit
    per_task: bool = False  # also sent with the TaskId dimension
    statistic: Statistic | None = None  # histograms: which one of the interval
    label_value: str | None = None  # labelled counters: this label's count (None: the sum)


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    prometheus: str  # histograms in seconds, with the _seconds suffix
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    emf: tuple[EmfMetric, ...] = ()


# The EMF metrics, by name: what the stacks import.
CONNECTIONS: Final = EmfMetric("Connections", COUNT, per_task=True)
BROKER_READY: Final = EmfMetric("BrokerReady", NO_UNIT)
CONNECTIONS_OPENED: Final = EmfMetric("ConnectionsOpened", COUNT)
CONNECTIONS_CLOSED: Final = EmfMetric("ConnectionsClosed", COUNT)
JOINS: Final = EmfMetric("Joins", COUNT)
MESSAGES_IN: Final = EmfMetric("MessagesIn", COUNT)
SENDS_UNAVAILABLE: Final = EmfMetric("SendsUnavailable", COUNT)
MESSAGES_OUT: Final = EmfMetric("MessagesOut", COUNT)
DELIVERIES: Final = EmfMetric("Deliveries", COUNT, per_task=True, label_value="message")
FANOUT_LATENCY_P50: Final = EmfMetric("FanoutLatencyP50", MILLISECONDS, statistic="p50")
FANOUT_LATENCY_P99: Final = EmfMetric(
    "FanoutLatencyP99", MILLISECONDS, per_task=True, statistic="p99"
)
FANOUT_LATENCY_MAX: Final = EmfMetric("FanoutLatencyMax", MILLISECONDS, statistic="max")
SLOW_CONSUMER_CLOSES: Final = EmfMetric("SlowConsumerCloses", COUNT)
RATE_LIMITED_FRAMES: Final = EmfMetric("RateLimitedFrames", COUNT)
REDIS_RECONNECTS: Final = EmfMetric("RedisReconnects", COUNT)
PROBE_FAILURES: Final = EmfMetric("ProbeFailures", COUNT)
BACKFILLED_MESSAGES: Final = EmfMetric("BackfilledMessages", COUNT)
EVENT_LOOP_LAG_P50: Final = EmfMetric("EventLoopLagP50", MILLISECONDS, statistic="p50")
EVENT_LOOP_LAG_P99: Final = EmfMetric("EventLoopLagP99", MILLISECONDS, statistic="p99")
EVENT_LOOP_LAG_MAX: Final = EmfMetric(
    "EventLoopLagMax", MILLISECONDS, per_task=True, statistic="max"
)

# The one table, in exposition order.
DEFINITIONS: Final[tuple[MetricDefinition, ...]] = (
    MetricDefinition("chat_relay_connections", "gauge", "Open WebSockets", emf=(CONNECTIONS,)),
    MetricDefinition("chat_relay_rooms", "gauge", "Rooms with local members"),
    MetricDefinition(
        "chat_relay_broker_ready", "gauge", "1 while the broker answers", emf=(BROKER_READY,)
    ),
    MetricDefinition(
        "chat_relay_connections_opened",
        "counter",
        "WebSockets accepted",
        emf=(CONNECTIONS_OPENED,),
    ),
    MetricDefinition(
        "chat_relay_connections_closed",
        "counter",
        "WebSockets ended, by close code (1006: no close frame)",
        labels=("code",),
        emf=(CONNECTIONS_CLOSED,),
    ),
    MetricDefinition(
        "chat_relay_connections_refused",
        "counter",
        "WebSocket handshakes and HTTP requests refused, by reason",
        labels=("reason",),
    ),
    MetricDefinition("chat_relay_joins", "counter", "Successful joins", emf=(JOINS,)),
    MetricDefinition(
        "chat_relay_messages_received",
        "counter",
        "Chat messages stored from local clients",
        emf=(MESSAGES_IN,),
    ),
    MetricDefinition(
        "chat_relay_sends_unavailable",
        "counter",
        "Sends refused because the broker was unreachable",
        emf=(SENDS_UNAVAILABLE,),
    ),
    MetricDefinition(
        "chat_relay_messages_fanned_out",
        "counter",
        "Chat messages fanned out to this process's sockets (once per message)",
        emf=(MESSAGES_OUT,),
    ),
    MetricDefinition(
        "chat_relay_deliveries",
        "counter",
        "Frames queued to local sockets (one per recipient), by kind",
        labels=("kind",),
        emf=(DELIVERIES,),
    ),
    MetricDefinition(
        "chat_relay_fanout_latency_seconds",
        "histogram",
        "Message date (store clock) to local socket write, once per message per process",
        emf=(FANOUT_LATENCY_P50, FANOUT_LATENCY_P99, FANOUT_LATENCY_MAX),
    ),
    MetricDefinition(
        "chat_relay_slow_consumer_closes",
        "counter",
        "Clients closed with 1013 for falling SEND_BUFFER_BYTES behind",
        emf=(SLOW_CONSUMER_CLOSES,),
    ),
    MetricDefinition(
        "chat_relay_rate_limited_frames",
        "counter",
        "Client frames dropped by the rate limit",
        emf=(RATE_LIMITED_FRAMES,),
    ),
    MetricDefinition(
        "chat_relay_redis_reconnects",
        "counter",
        "Times the Redis subscriber lost its connection or failed to reconnect",
        emf=(REDIS_RECONNECTS,),
    ),
    MetricDefinition(
        "chat_relay_redis_probe_failures",
        "counter",
        "Deaf-subscriber probes that failed (each restarts the subscriber)",
        emf=(PROBE_FAILURES,),
    ),
    MetricDefinition(
        "chat_relay_backfilled_messages",
        "counter",
        "Messages re-read from history after a subscriber reconnect",
        emf=(BACKFILLED_MESSAGES,),
    ),
    MetricDefinition(
        "chat_relay_event_loop_lag_seconds",
        "histogram",
        f"How late the event loop wakes a {LOOP_LAG_SAMPLE_SECONDS:g} s timer",
        emf=(EVENT_LOOP_LAG_P50, EVENT_LOOP_LAG_P99, EVENT_LOOP_LAG_MAX),
    ),
    MetricDefinition(
        "chat_relay_log_lines_suppressed", "counter", "Log lines dropped by the log rate limit"
    ),
)

EMF_METRICS: Final[tuple[EmfMetric, ...]] = tuple(e for d in DEFINITIONS for e in d.emf)
PER_TASK_METRICS: Final[tuple[EmfMetric, ...]] = tuple(e for e in EMF_METRICS if e.per_task)
