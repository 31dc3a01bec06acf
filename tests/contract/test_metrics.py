"""contract.metrics: one table, names unique and valid for Prometheus and CloudWatch."""

from __future__ import annotations

import re

from contract import metrics
from contract.metrics import EmfMetric

PROMETHEUS_NAME = re.compile(r"chat_relay_[a-z0-9_]+")
# CloudWatch metric names: 1..255 characters; these are kept to CamelCase ASCII.
EMF_NAME = re.compile(r"[A-Z][A-Za-z0-9]{0,254}")


def test_prometheus_names_are_unique_and_valid() -> None:
    names = [d.prometheus for d in metrics.DEFINITIONS]
    assert len(names) == len(set(names))
    assert all(PROMETHEUS_NAME.fullmatch(name) for name in names)
    for definition in metrics.DEFINITIONS:
        assert definition.help.strip()
        assert definition.kind in ("counter", "gauge", "histogram")
        # Seconds are the Prometheus base unit; only histograms measure time here.
        assert definition.prometheus.endswith("_seconds") == (definition.kind == "histogram")
        assert not definition.prometheus.endswith("_total")  # the client library adds it


def test_emf_names_are_unique_and_valid() -> None:
    names = [e.name for e in metrics.EMF_METRICS]
    assert len(names) == len(set(names))
    assert all(EMF_NAME.fullmatch(name) for name in names)
    assert all(e.unit in ("Count", "Milliseconds", "None") for e in metrics.EMF_METRICS)


def test_every_emf_constant_is_in_the_table() -> None:
    constants = [v for v in vars(metrics).values() if isinstance(v, EmfMetric)]
    assert sorted(e.name for e in constants) == sorted(e.name for e in metrics.EMF_METRICS)


def test_emf_shapes_fit_their_kind() -> None:
    for definition in metrics.DEFINITIONS:
        for emf in definition.emf:
            if definition.kind == "histogram":
                assert emf.unit == metrics.MILLISECONDS
                assert emf.statistic is not None
            else:
                assert emf.statistic is None
            if emf.label_value is not None:
                assert definition.labels, f"{emf.name} picks a label of an unlabelled metric"
        if definition.kind == "histogram":
            assert sorted(e.statistic or "" for e in definition.emf) == ["max", "p50", "p99"]


def test_the_per_task_set_stays_small_and_has_what_the_scaling_policy_reads() -> None:
    per_task = metrics.PER_TASK_METRICS
    assert metrics.CONNECTIONS in per_task  # the Connections target-tracking policy
    assert 1 <= len(per_task) <= 5  # each task id makes each of these a new metric
    assert set(per_task) <= set(metrics.EMF_METRICS)


def test_dimension_sets() -> None:
    assert metrics.SERVICE_DIMENSIONS == ("ServiceName",)
    assert metrics.TASK_DIMENSIONS == ("ServiceName", "TaskId")
    assert not metrics.NAMESPACE.startswith("AWS/")
