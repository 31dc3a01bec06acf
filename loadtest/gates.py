"""CI gates: compare a report with the limits given on the command line."""

from __future__ import annotations

from typing import Any

from loadtest.plan import Gates


def _figure(report: dict[str, Any], path: str) -> float | None:
    value: object = report
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value if isinstance(value, int | float) else None


# gate field -> (figure in the report, True when the figure must stay at or below the limit)
GATE_FIGURES: dict[str, tuple[str, bool]] = {
    "max_p99_ms": ("latency_ms.p99", True),
    "max_p999_ms": ("latency_ms.p999", True),
    "max_loss": ("messages.loss_ratio", True),
    "max_join_ms": ("join.p99", True),
    "max_all_joined_s": ("join.all_joined_s", True),
    "max_errors": ("errors.total", True),
    "max_duplicates": ("messages.duplicated", True),
    "min_deliveries_per_s": ("throughput.deliveries_per_s", False),
    "min_delivered": ("messages.delivered", False),
}


def evaluate_gates(gates: Gates, report: dict[str, Any]) -> list[dict[str, Any]]:
    """One verdict per gate that was set, after a `measured` verdict if the run measured
    nothing. A figure the run could not produce (no deliveries, not everyone joined) fails
    its gate: a pipeline must not pass on missing data."""
    verdicts = []
    if (nothing := measured_nothing(report)) is not None:
        verdicts.append({"name": "measured", "passed": False, "detail": nothing})
    for name, (path, at_most) in GATE_FIGURES.items():
        limit = getattr(gates, name)
        if limit is None:
            continue
        value = _figure(report, path)
        passed = value is not None and (value <= limit if at_most else value >= limit)
        verdicts.append(
            {"name": name.replace("_", "-"), "limit": limit, "value": value, "passed": passed}
        )
    return verdicts


def measured_nothing(report: dict[str, Any]) -> str | None:
    """Why the run has no figures to judge, or None when it measured something.

    A plan with senders must yield expected deliveries and latency samples; one without
    (a join test) must have joined someone.
    """
    plan, join, messages = report["plan"], report["join"], report["messages"]
    if plan["senders"] == 0:
        if join["joined"]:
            return None
        return f"nothing measured: none of the {join['clients']} clients joined"
    if messages["expected"] == 0:
        if messages["sent"] and join["late_joiners"]:
            return (
                f"nothing measured: 0 expected deliveries, since all {join['late_joiners']} "
                "clients that joined did so after measurement began; give them time to join "
                "first (--ramp-up, --warm-up)"
            )
        if join["joined"] == 0:
            return f"nothing measured: none of the {join['clients']} clients joined"
        return (
            "nothing measured: 0 expected deliveries, no message was sent during the "
            "measurement (check the senders' connect errors and --rate)"
        )
    if report["latency_ms"]["count"] == 0:
        return (
            f"nothing measured: none of the {messages['expected']} expected deliveries "
            "arrived live, so there are no latency samples"
        )
    return None
