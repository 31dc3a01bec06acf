"""`python -m bench.ws_impl` at its tiny size, one round, end to end: every installed uvicorn
WebSocket implementation serves the relay (idle, fan-out without loss, a storm that all
joins) and the result file has a median per implementation. Shapes and counts only."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.ws_impl import QUICK, installed
from tests.support.bench_runs import run_bench


@pytest.mark.redis
def test_quick_run_measures_every_installed_implementation(tmp_path: Path) -> None:
    summary, _ = run_bench("ws_impl", ["--quick", "--rounds=1"], tmp_path, timeout=400)
    have, missing = installed()
    assert summary["measured"] == have
    assert summary["not_installed"] == missing
    assert "websockets-sansio" in have
    for ws in have:
        medians = summary["medians"][ws]
        assert medians["idle_joined"] == QUICK.idle_clients
        assert medians["fan_out_lost"] == 0
        assert medians["storm_joined"] == QUICK.storm_clients
        assert medians["storm_all_joined_s"] is not None
        assert len(summary["runs"][ws]) == 1
