"""The relay's metrics at ``GET /metrics``: Prometheus text built from the metric table.

Every ``contract.metrics.DEFINITIONS`` entry becomes one metric family at scrape time,
its value read through ``service.readings`` (the same values EMF sends); nothing here
runs on the hot path. The counters themselves live in ``service.counters`` and are
re-exported here, where the hub, the connections and the app import them from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from contract.metrics import DEFINITIONS, MetricDefinition

from .counters import (
    FANOUT_BOUNDS_MS,
    LOOP_LAG_BOUNDS_MS,
    LOOP_LAG_INTERVAL,
    Histogram,
    RelayMetrics,
    quantile,
    watch_loop_lag,
)
from .readings import Reading, SnapshotSource, read

__all__ = [
    "FANOUT_BOUNDS_MS",
    "LOOP_LAG_BOUNDS_MS",
    "LOOP_LAG_INTERVAL",
    "PROMETHEUS_CONTENT_TYPE",
    "Histogram",
    "PrometheusExposition",
    "RelayCollector",
    "RelayMetrics",
    "families",
    "quantile",
    "watch_loop_lag",
]

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RelayCollector(Collector):
    """Builds the metric families from the counters at scrape time."""

    def __init__(self, hub: SnapshotSource, metrics: RelayMetrics) -> None:
        self.hub = hub
        self.metrics = metrics

    def describe(self) -> Iterator[Metric]:
        return iter(())  # families vary (per close code); registering must not collect

    def collect(self) -> Iterator[Metric]:
        state = self.hub.snapshot()
        for definition in DEFINITIONS:
            yield _family(definition, read(definition, state, self.metrics))


def _family(definition: MetricDefinition, reading: Reading) -> Metric:
    name, documentation = definition.prometheus, definition.help
    if isinstance(reading, Histogram):
        return _histogram(name, documentation, reading)
    if definition.kind == "gauge":
        if not isinstance(reading, int):
            raise TypeError(f"{name}: a gauge reads one number")
        return GaugeMetricFamily(name, documentation, value=reading)
    if isinstance(reading, Mapping):
        family = CounterMetricFamily(name, documentation, labels=list(definition.labels))
        for label_value, count in reading.items():
            family.add_metric([label_value], count)
        return family
    return CounterMetricFamily(name, documentation, value=reading)


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

    def __init__(self, hub: SnapshotSource, metrics: RelayMetrics) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(RelayCollector(hub, metrics))
        with contextlib.suppress(Exception):  # /proc is Linux-only
            ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def families(exposition: PrometheusExposition) -> dict[str, Metric]:
    """Name -> family, for tests and tools that read the registry in-process."""
    return {family.name: family for family in exposition.registry.collect()}
