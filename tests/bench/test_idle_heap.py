"""`python -m bench.idle_heap` at a tiny size, end to end (its own redis-server and a traced
relay): both snapshots are taken and the result file charges the bytes to sites. Shapes
only; what each connection holds depends on the libraries' versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.bench_runs import run_bench


@pytest.mark.redis
def test_a_tiny_traced_run_charges_each_connection_to_sites(tmp_path: Path) -> None:
    arguments = ["--clients=20", "--hold=10"]
    trace = {"BENCH_TRACE_FRAMES": "1"}
    summary, stdout = run_bench("idle_heap", arguments, tmp_path, timeout=240, env=trace)
    assert summary["joined"] == 20
    assert summary["traced_bytes_per_connection"] > 0
    assert set(summary["bytes_per_connection_by_owner"]) >= {"service", "uvicorn"}
    site = summary["sites"][0]
    assert set(site) == {"owner", "site", "code", "bytes_per_connection", "objects_per_connection"}
    assert "| KiB/conn | objects/conn | site | code |" in stdout
