"""CloudWatch metrics without a sidecar: Embedded Metric Format lines on stdout.

Every ``METRICS_EMF_INTERVAL`` seconds the relay prints one JSON line whose ``_aws``
member tells CloudWatch Logs which fields are metrics. The ECS task's awslogs driver
ships stdout to the relay's log group, and CloudWatch extracts the metrics from it:
no agent, no PutMetricData permission.

Two dimension sets, in namespace ``METRICS_NAMESPACE``:

- ``ServiceName``: every metric. Each task sends one value per interval, so the
  ``Average`` of ``Connections`` is connections per task (what the autoscaling policy
  tracks), ``Sum`` the total, ``Maximum`` the busiest task.
- ``ServiceName, TaskId``: a few per-task metrics (connections, deliveries, fan-out
  p99, loop lag) to find the one task that misbehaves. Each task id is a new metric,
  so this set is kept small.

Counters are sent as the change over the interval; latencies as the interval's p50,
p99 and maximum, estimated from the histogram (EMF value arrays hold at most 100
values, not a whole distribution). A latency with no samples in the interval is left
out of the line rather than sent as zero.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from .metrics import Histogram, RelayMetrics, quantile
from .snapshot import RelaySnapshot

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger("service.emf")

COUNT = "Count"
MILLISECONDS = "Milliseconds"
NONE = "None"

# (EMF name, unit, reader) for the counters sent as per-interval deltas.
COUNTERS: tuple[tuple[str, str, Callable[[RelaySnapshot, RelayMetrics], int]], ...] = (
    ("ConnectionsOpened", COUNT, lambda s, m: m.connections_opened),
    ("ConnectionsClosed", COUNT, lambda s, m: m.connections_closed),
    ("Joins", COUNT, lambda s, m: m.joins),
    ("MessagesIn", COUNT, lambda s, m: m.messages_in),
    ("MessagesOut", COUNT, lambda s, m: m.messages_out),
    ("Deliveries", COUNT, lambda s, m: m.deliveries),
    ("SendsUnavailable", COUNT, lambda s, m: m.send_unavailable),
    ("SlowConsumerCloses", COUNT, lambda s, m: m.slow_consumer_closes),
    ("RateLimitedFrames", COUNT, lambda s, m: m.rate_limited),
    ("RedisReconnects", COUNT, lambda s, m: s.broker.reconnects),
    ("ProbeFailures", COUNT, lambda s, m: s.broker.deaf_restarts),
    ("BackfilledMessages", COUNT, lambda s, m: s.broker.backfilled),
)
PER_TASK = ("Connections", "Deliveries", "FanoutLatencyP99", "EventLoopLagMax")


def task_id(metadata_uri: str | None, fallback: str) -> str:
    """The ECS task id from the task metadata endpoint (v4), else ``fallback``."""
    if not metadata_uri:
        return fallback
    try:
        with urllib.request.urlopen(f"{metadata_uri}/task", timeout=2) as response:
            arn = orjson.loads(response.read())["TaskARN"]
        return str(arn).rsplit("/", 1)[-1]
    except Exception:
        log.warning("ECS task metadata unreadable; TaskId falls back", extra={"task": fallback})
        return fallback


class EmfReporter:
    """Builds and prints one EMF line per interval."""

    def __init__(
        self,
        hub: Hub,
        metrics: RelayMetrics,
        *,
        namespace: str,
        service_name: str,
        task: str,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.hub = hub
        self.metrics = metrics
        self.namespace = namespace
        self.service_name = service_name
        self.task = task
        self._write = write or _stdout
        start = hub.snapshot()
        self._last = {name: read(start, metrics) for name, _, read in COUNTERS}
        self._fanout = metrics.fanout_latency.snapshot()
        self._lag = metrics.loop_lag.snapshot()

    def line(self, now: float | None = None) -> str:
        state, m = self.hub.snapshot(), self.metrics
        values: dict[str, float] = {"Connections": state.connections}
        units: dict[str, str] = {"Connections": COUNT}
        for name, unit, read in COUNTERS:
            current = read(state, m)
            values[name] = max(0, current - self._last[name])
            units[name] = unit
            self._last[name] = current
        for prefix, histogram, attr in (
            ("FanoutLatency", m.fanout_latency, "_fanout"),
            ("EventLoopLag", m.loop_lag, "_lag"),
        ):
            previous = getattr(self, attr)
            current = histogram.snapshot()
            setattr(self, attr, current)
            for name, value in _interval_stats(histogram, previous, current).items():
                values[f"{prefix}{name}"] = round(value, 3)
                units[f"{prefix}{name}"] = MILLISECONDS
        values["BrokerReady"] = int(state.broker.ready)
        units["BrokerReady"] = NONE
        service_metrics = [{"Name": n, "Unit": units[n]} for n in values]
        task_metrics = [{"Name": n, "Unit": units[n]} for n in PER_TASK if n in values]
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int((time.time() if now is None else now) * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["ServiceName"]],
                        "Metrics": service_metrics,
                    },
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["ServiceName", "TaskId"]],
                        "Metrics": task_metrics,
                    },
                ],
            },
            "ServiceName": self.service_name,
            "TaskId": self.task,
            **values,
        }
        return orjson.dumps(document).decode()

    def emit(self) -> None:
        self._write(self.line())

    async def run(self, interval: float) -> None:
        """Emit on interval boundaries (plus a fixed per-process offset), so each task
        sends once per CloudWatch period and the per-task Average stays exact."""
        offset = random.uniform(0, interval * 0.5)
        while True:
            now = time.time()
            next_at = (now - offset) // interval * interval + interval + offset
            await asyncio.sleep(next_at - now)
            try:
                self.emit()
            except Exception:
                log.warning("could not write the EMF metrics line", exc_info=True)


def _interval_stats(
    histogram: Histogram,
    previous: tuple[list[int], float, float],
    current: tuple[list[int], float, float],
) -> dict[str, float]:
    counts = [now - before for now, before in zip(current[0], previous[0], strict=True)]
    top = current[2]
    p50 = quantile(histogram.bounds, counts, 0.5, top)
    p99 = quantile(histogram.bounds, counts, 0.99, top)
    if p50 is None or p99 is None:
        return {}
    return {"P50": p50, "P99": p99, "Max": top}


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
