from __future__ import annotations

import copy

from loadtest.gates import evaluate_gates
from loadtest.plan import Gates
from loadtest.report import format_gate

REPORT = {
    "plan": {"senders": 10, "clients": 100},
    "latency_ms": {"count": 19_000, "p99": 2.5, "p999": 9.0},
    "messages": {
        "sent": 190,
        "expected": 19_000,
        "delivered": 19_000,
        "loss_ratio": 0.0,
        "duplicated": 0,
    },
    "join": {"clients": 100, "joined": 100, "late_joiners": 0, "p99": 40.0, "all_joined_s": None},
    "errors": {"total": 3},
    "throughput": {"deliveries_per_s": 19_000.0},
}


def verdicts(report: dict = REPORT, **limits: float) -> dict[str, bool]:
    return {v["name"]: v["passed"] for v in evaluate_gates(Gates(**limits), report)}


def test_only_the_gates_given_are_checked() -> None:
    assert verdicts() == {}
    assert verdicts(max_p99_ms=3) == {"max-p99-ms": True}


def test_limits_are_inclusive_and_point_the_right_way() -> None:
    assert verdicts(max_p99_ms=2.5, max_p999_ms=8.9) == {"max-p99-ms": True, "max-p999-ms": False}
    assert verdicts(min_deliveries_per_s=20_000) == {"min-deliveries-per-s": False}
    assert verdicts(max_errors=2, max_loss=0) == {"max-errors": False, "max-loss": True}
    assert verdicts(min_delivered=19_000) == {"min-delivered": True}
    assert verdicts(min_delivered=19_001) == {"min-delivered": False}


def test_a_figure_the_run_could_not_produce_fails_its_gate() -> None:
    # all_joined_s is None: not every client joined.
    assert verdicts(max_all_joined_s=100) == {"max-all-joined-s": False}
    line = format_gate(evaluate_gates(Gates(max_all_joined_s=100), REPORT)[0])
    assert line == "gate FAIL max-all-joined-s = not measured (limit 100)"


def nothing_measured(**changes: dict) -> dict:
    report = copy.deepcopy(REPORT)
    for section, values in changes.items():
        report[section].update(values)
    return report


def test_a_run_whose_clients_all_joined_late_fails_with_the_reason() -> None:
    """--ramp-up 0 --warm-up 0: everyone joins after measurement began; 0 expected."""
    report = nothing_measured(
        messages={"expected": 0, "delivered": 0},
        latency_ms={"count": 0},
        join={"late_joiners": 100},
    )
    found = evaluate_gates(Gates(max_loss=0), report)
    assert [(v["name"], v["passed"]) for v in found] == [("measured", False), ("max-loss", True)]
    line = format_gate(found[0])
    assert line.startswith("gate FAIL measured: nothing measured: 0 expected deliveries")
    assert "--ramp-up" in line
    # no gates asked for: the run still fails
    assert verdicts(report) == {"measured": False}


def test_no_live_delivery_or_no_join_measures_nothing() -> None:
    no_samples = nothing_measured(messages={"delivered": 0}, latency_ms={"count": 0})
    assert (
        "none of the 19000 expected deliveries arrived"
        in evaluate_gates(Gates(), no_samples)[0]["detail"]
    )
    nobody = nothing_measured(
        messages={"sent": 0, "expected": 0}, latency_ms={"count": 0}, join={"joined": 0}
    )
    assert evaluate_gates(Gates(), nobody)[0]["detail"] == (
        "nothing measured: none of the 100 clients joined"
    )
    join_test = nothing_measured(plan={"senders": 0}, messages={"sent": 0, "expected": 0})
    assert verdicts(join_test) == {}  # a join-only run measures joins
