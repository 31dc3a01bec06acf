from __future__ import annotations

import time

import pytest

from loadtest.plan import NS_PER_S
from loadtest.runner import StartMissed, _start_instant, combine_progress


def test_a_start_that_passed_while_the_workers_started_is_refused() -> None:
    with pytest.raises(StartMissed, match=r"--start-at was [56]\.\d s ago when the workers"):
        _start_instant(time.time_ns() - 5 * NS_PER_S)


def test_a_start_ahead_maps_onto_the_monotonic_clock_ahead() -> None:
    before = time.monotonic_ns()
    t0 = _start_instant(time.time_ns() + 30 * NS_PER_S)
    assert before + 29 * NS_PER_S < t0 < time.monotonic_ns() + 31 * NS_PER_S
    assert _start_instant(None) > before  # no --start-at: just ahead of now


def test_progress_of_workers_adds_up_and_keeps_the_worst_p99() -> None:
    snapshot = {
        "joined": 2, "connected": 2, "sent": 3, "delivered": 9, "errors": 0,
        "reconnects": 0, "p99_ms": 1.5, "lag_ms": 0.2,
    }  # fmt: skip
    combined = combine_progress({0: snapshot, 1: {**snapshot, "p99_ms": None, "lag_ms": 4.0}})
    assert combined["delivered"] == 18 and combined["p99_ms"] == 1.5 and combined["lag_ms"] == 4.0
