from __future__ import annotations

import io

from bench.shards import PHASE
from loadtest.plan import RunPlan
from loadtest.progress import ProgressDisplay

PLAN = RunPlan(urls=("ws://a/ws",), clients=10, ramp_up=5, warm_up=5, duration=110, drain=2)
SNAPSHOT = {
    "joined": 10,
    "connected": 10,
    "sent": 5,
    "delivered": 50,
    "errors": 0,
    "reconnects": 0,
    "p99_ms": None,
    "lag_ms": 0.5,
}


def line_at(t: float) -> str:
    stream = io.StringIO()
    ProgressDisplay(PLAN, stream, every_s=1.0).update(t, SNAPSHOT)
    return stream.getvalue().rstrip("\n")


def test_the_line_shows_elapsed_of_total_and_the_time_left() -> None:
    assert line_at(12.5).startswith("[  12.5s/122s measure] ETA  1m50s  joined 10/10")
    assert line_at(121.0).startswith("[ 121.0s/122s   drain] ETA     1s")
    assert "p99 -" in line_at(12.5)  # no None


def test_before_start_at_it_counts_down() -> None:
    assert line_at(-30.0).startswith("[ -30.0s/122s waiting] ETA  2m32s")


def test_the_benchmarks_still_read_the_phase() -> None:
    assert PHASE.match(line_at(12.5)).group(1) == "measure"
    assert PHASE.match("[   8.0s measure] joined 1000/1000").group(1) == "measure"
