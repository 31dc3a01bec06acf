"""`python -m bench.rooms` at its tiny size, one round, end to end (its own redis-server and
relays): the result file has both sides of both parts, their ratio and every run. Shapes and
counts only; the figures themselves depend on the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.rooms import QUICK, SIDES
from tests.support.bench_runs import run_bench


@pytest.mark.redis
def test_quick_rooms_run_writes_both_sides_and_their_ratio(tmp_path: Path) -> None:
    summary, stdout = run_bench("rooms", ["--quick", "--rounds=1"], tmp_path, timeout=240)
    assert summary["rounds"] == 1
    for part in ("fan_out", "idle"):
        assert set(summary[part]) == {"K1", "K10", "K10/K1", "runs", "generator_saturated_runs"}
        assert [len(summary[part]["runs"][f"K{k}"]) for k in SIDES] == [1, 1]
    for k in SIDES:
        fan_out = summary["fan_out"][f"K{k}"]
        # the same offered deliveries on both sides, everything delivered
        assert fan_out["offered_deliveries_per_s"] == QUICK.senders * QUICK.rate * 10
        assert fan_out["lost"] == 0
        assert fan_out["relay_cpu_us_per_delivery"] > 0
        idle = summary["idle"][f"K{k}"]
        assert idle["joined"] == QUICK.idle_clients
        assert idle["rss_per_connection_bytes"] is not None
    assert summary["fan_out"]["K10/K1"]["offered_deliveries_per_s"] == 1.0
    assert "| relay CPU per delivery, us |" in stdout
    assert (tmp_path / "rooms" / "fan-out-K10-1.json").is_file()
