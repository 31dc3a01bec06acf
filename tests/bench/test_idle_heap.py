"""`python -m bench.idle_heap` at a tiny size, end to end (its own redis-server and a traced
relay): both snapshots are taken and the result file charges the bytes to sites. Shapes
only; what each connection holds depends on the libraries' versions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from harness.paths import REPO


@pytest.mark.redis
def test_a_tiny_traced_run_charges_each_connection_to_sites(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.idle_heap", "--clients=20", "--hold=10"]
    done = subprocess.run(
        [*command, f"--results={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "BENCH_TRACE_FRAMES": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = orjson.loads((tmp_path / "idle_heap.json").read_bytes())
    assert summary["joined"] == 20
    assert summary["traced_bytes_per_connection"] > 0
    assert set(summary["bytes_per_connection_by_owner"]) >= {"service", "uvicorn"}
    site = summary["sites"][0]
    assert set(site) == {"owner", "site", "code", "bytes_per_connection", "objects_per_connection"}
    assert "| KiB/conn | objects/conn | site | code |" in done.stdout
