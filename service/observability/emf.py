"""CloudWatch metrics without a sidecar: Embedded Metric Format lines on stdout.

Every ``METRICS_EMF_INTERVAL`` seconds the relay prints one JSON line whose ``_aws``
member tells CloudWatch Logs which fields are metrics. The ECS task's awslogs driver
ships stdout to the relay's log group, and CloudWatch extracts the metrics from it:
no agent, no PutMetricData permission.

The metrics, their units and which are per task come from ``contract.metrics`` (the
table the stacks' dashboards, alarms and scaling policy read too). Two dimension sets,
in namespace ``METRICS_NAMESPACE``:

- ``ServiceName``: every EMF metric. Each task sends one value per interval, so the
  ``Average`` of ``Connections`` is connections per task (what the autoscaling policy
  tracks), ``Sum`` the total, ``Maximum`` the busiest task.
- ``ServiceName, TaskId``: the few ``per_task`` metrics (connections, deliveries, fan-out
  p99, loop lag) to find the one task that misbehaves. Each task id is a new metric,
  so this set is kept small.

Counters are sent as the change over the interval; gauges as their value; latencies as
the interval's p50, p99 and maximum, estimated from the histogram (EMF value arrays hold
at most 100 values, not a whole distribution). A latency with no samples in the interval
is left out of the line rather than sent as zero.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
import urllib.request
from collections.abc import Callable

import orjson

from contract.metrics import (
    DEFINITIONS,
    PER_TASK_METRICS,
    SERVICE_DIMENSIONS,
    TASK_DIMENSIONS,
    EmfMetric,
    MetricDefinition,
    Statistic,
)

from .counters import Histogram, HistogramSnapshot, RelayMetrics, quantile
from .readings import SnapshotSource, read, total
from .snapshot import RelaySnapshot

log = logging.getLogger("service.emf")

# The table's entries that EMF sends.
EMF_DEFINITIONS = tuple(d for d in DEFINITIONS if d.emf)


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
        hub: SnapshotSource,
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
        # Counter totals and histogram snapshots at the last line, to send the change.
        self._last_totals: dict[str, int] = {}
        self._last_histograms: dict[str, HistogramSnapshot] = {}
        for definition in EMF_DEFINITIONS:
            reading = read(definition, start, metrics)
            if isinstance(reading, Histogram):
                self._last_histograms[definition.prometheus] = reading.snapshot()
            elif definition.kind == "counter":
                for emf in definition.emf:
                    self._last_totals[emf.name] = total(reading, emf.label_value)

    def line(self, now: float | None = None) -> str:
        state = self.hub.snapshot()
        values: dict[str, float] = {}
        units: dict[str, str] = {}
        for definition in EMF_DEFINITIONS:
            for emf, value in self._values(definition, state).items():
                values[emf.name] = value
                units[emf.name] = emf.unit
        service_metrics = [{"Name": n, "Unit": units[n]} for n in values]
        task_metrics = [
            {"Name": m.name, "Unit": m.unit} for m in PER_TASK_METRICS if m.name in values
        ]
        document: dict[str, object] = {
            "_aws": {
                "Timestamp": int((time.time() if now is None else now) * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [list(SERVICE_DIMENSIONS)],
                        "Metrics": service_metrics,
                    },
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [list(TASK_DIMENSIONS)],
                        "Metrics": task_metrics,
                    },
                ],
            },
            "ServiceName": self.service_name,
            "TaskId": self.task,
            **values,
        }
        return orjson.dumps(document).decode()

    def _values(self, definition: MetricDefinition, state: RelaySnapshot) -> dict[EmfMetric, float]:
        """This interval's value of each of the definition's EMF metrics (none: left out)."""
        reading = read(definition, state, self.metrics)
        if isinstance(reading, Histogram):
            previous = self._last_histograms[definition.prometheus]
            current = self._last_histograms[definition.prometheus] = reading.snapshot()
            stats = _interval_stats(reading, previous, current)
            return {
                e: round(stats[e.statistic], 3)
                for e in definition.emf
                if e.statistic is not None and e.statistic in stats
            }
        if definition.kind == "gauge":
            return {e: total(reading, e.label_value) for e in definition.emf}
        deltas: dict[EmfMetric, float] = {}
        for emf in definition.emf:
            current_total = total(reading, emf.label_value)
            deltas[emf] = max(0, current_total - self._last_totals[emf.name])
            self._last_totals[emf.name] = current_total
        return deltas

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
    histogram: Histogram, previous: HistogramSnapshot, current: HistogramSnapshot
) -> dict[Statistic, float]:
    counts = [now - before for now, before in zip(current[0], previous[0], strict=True)]
    top = current[2]
    p50 = quantile(histogram.bounds, counts, 0.5, top)
    p99 = quantile(histogram.bounds, counts, 0.99, top)
    if p50 is None or p99 is None:
        return {}
    return {"p50": p50, "p99": p99, "max": top}


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
