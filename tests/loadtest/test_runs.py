"""Short real runs of `python -m loadtest` against relays the tests start.

Figures are not asserted against time limits (the machine may be busy); what must hold
whatever the load is exact: nothing lost, nothing duplicated, the files written.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from harness.redis_server import RedisServer
from harness.relay import RelayProcess
from tests.support.loadtest_runs import SHORT, run_loadtest


def test_single_relay_run_delivers_everything_and_writes_its_files(
    relay: RelayProcess, tmp_path: Path
) -> None:
    report_path, plot_path = tmp_path / "report.json", tmp_path / "latency.png"
    args = ["--clients=30", "--rooms=3", "--senders=6", "--rate=4", "--workers=2", *SHORT]
    gates = ["--max-loss=0", "--max-duplicates=0", "--max-errors=0"]
    result = run_loadtest(relay.ws, *args, *gates, f"--json={report_path}", f"--plot={plot_path}")
    assert result.returncode == 0, result.stdout + result.stderr
    report = orjson.loads(report_path.read_bytes())
    messages = report["messages"]
    # 6 senders x 4 msg/s x 3 s, each to the 10 members of its room
    assert messages["sent"] == 72
    assert messages["expected"] == messages["delivered"] == 720
    assert messages["lost"] == messages["duplicated"] == messages["misrouted"] == 0
    assert report["latency_ms"]["count"] == 720
    assert report["join"]["joined"] == 30
    assert [g["passed"] for g in report["gates"]] == [True, True, True]
    assert plot_path.read_bytes().startswith(b"\x89PNG")
    assert "lost 0" in result.stdout
    # stderr is not a terminal here: progress comes as plain lines
    assert "joined 30/30" in result.stderr
    assert "\r" not in result.stderr


def test_a_missed_gate_exits_1(relay: RelayProcess) -> None:
    result = run_loadtest(
        relay.ws, "--clients=4", "--senders=1", "--rate=5", "--max-p99-ms=0.000001", *SHORT
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gate FAIL max-p99-ms" in result.stdout


@pytest.mark.redis
def test_churn_across_two_relays_loses_nothing(
    redis_server: RedisServer, two_relays: list[RelayProcess], tmp_path: Path
) -> None:
    report_path = tmp_path / "report.json"
    urls = [relay.ws for relay in two_relays]
    args = ["--clients=40", "--rooms=2", "--senders=4", "--rate=5", "--churn=6", *SHORT]
    result = run_loadtest(*urls, *args, "--churn-downtime=0.2s", f"--json={report_path}")
    assert result.returncode == 0, result.stdout + result.stderr
    report = orjson.loads(report_path.read_bytes())
    assert report["connections"]["churn_drops"] > 0
    assert report["connections"]["reconnects"] >= report["connections"]["churn_drops"] - 1
    assert report["connections"]["identity_changes"] == 0
    messages = report["messages"]
    assert messages["expected"] == 4 * 5 * 3 * 20  # sends x members of the room
    assert messages["lost"] == 0, messages
    assert messages["duplicated"] == 0
