from __future__ import annotations

from loadtest.gates import evaluate_gates
from loadtest.plan import Gates

REPORT = {
    "latency_ms": {"p99": 2.5, "p999": 9.0},
    "messages": {"loss_ratio": 0.0, "duplicated": 0},
    "join": {"p99": 40.0, "all_joined_s": None},
    "errors": {"total": 3},
    "throughput": {"deliveries_per_s": 19_000.0},
}


def verdicts(**limits: float) -> dict[str, bool]:
    return {v["name"]: v["passed"] for v in evaluate_gates(Gates(**limits), REPORT)}


def test_only_the_gates_given_are_checked() -> None:
    assert verdicts() == {}
    assert verdicts(max_p99_ms=3) == {"max-p99-ms": True}


def test_limits_are_inclusive_and_point_the_right_way() -> None:
    assert verdicts(max_p99_ms=2.5, max_p999_ms=8.9) == {"max-p99-ms": True, "max-p999-ms": False}
    assert verdicts(min_deliveries_per_s=20_000) == {"min-deliveries-per-s": False}
    assert verdicts(max_errors=2, max_loss=0) == {"max-errors": False, "max-loss": True}


def test_a_figure_the_run_could_not_produce_fails_its_gate() -> None:
    # all_joined_s is None: not every client joined.
    assert verdicts(max_all_joined_s=100) == {"max-all-joined-s": False}
