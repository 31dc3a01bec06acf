"""Real sharded runs: three `python -m loadtest --shard K/3` processes on one --start-at
against two relays, merged; and a run stopped with Ctrl-C.

Counts are asserted (they are exact whatever the load), never latencies.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from harness.paths import REPO
from harness.redis_server import RedisServer
from harness.relay import RelayProcess
from tests.support.loadtest_runs import SHORT, run_loadtest

# Enough for three interpreters to start, check the URLs and spawn their workers on a
# busy machine; a shard that misses it exits 3 and says so.
START_LEAD_S = 15
PLAN = ["--clients=30", "--rooms=3", "--senders=6", "--rate=4"]


def start_loadtest(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "loadtest", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.redis
def test_three_shards_merge_into_the_unsharded_count(
    redis_server: RedisServer, two_relays: list[RelayProcess], tmp_path: Path
) -> None:
    urls = [relay.ws for relay in two_relays]
    start_at = str(int(time.time()) + START_LEAD_S)
    shards = [
        start_loadtest(
            *urls,
            *PLAN,
            *SHORT,
            f"--shard={k}/3",
            f"--start-at={start_at}",
            f"--json={tmp_path}/out-{k}.json",
        )
        for k in (1, 2, 3)
    ]
    try:
        outputs = [shard.communicate(timeout=120) for shard in shards]
    finally:
        for shard in shards:
            shard.kill()
    for shard, (out, err) in zip(shards, outputs, strict=True):
        assert shard.returncode == 0, out + err
        assert "expected and lost: after `python -m loadtest merge`" in out
    files = sorted(str(p) for p in tmp_path.glob("out-*.json"))
    merged_path = tmp_path / "merged.json"
    result = run_loadtest(
        "merge",
        *files,
        "--max-loss=0",
        "--max-duplicates=0",
        "--min-delivered=720",
        f"--json={merged_path}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    merged = orjson.loads(merged_path.read_bytes())
    messages = merged["messages"]
    # 6 senders x 4 msg/s x 3 s, each to the 10 members of its room, who sit on all 3 shards
    assert messages["sent"] == 72
    assert messages["expected"] == messages["delivered"] == 720
    assert messages["duplicated"] == messages["misrouted"] == 0
    assert merged["latency_ms"]["count"] == 720
    assert merged["join"]["joined"] == 30
    assert [s["index"] for s in merged["shards"]] == [1, 2, 3]
    per_shard = [orjson.loads(Path(f).read_bytes())["messages"] for f in files]
    assert sum(m["sent"] for m in per_shard) == 72
    assert sum(m["delivered"] for m in per_shard) == 720
    assert "3 shards x 1 worker(s), merged" in result.stdout


def test_ctrl_c_prints_the_partial_summary_and_writes_the_json(
    relay: RelayProcess, tmp_path: Path
) -> None:
    report_path = tmp_path / "partial.json"
    run = start_loadtest(
        relay.ws,
        *PLAN,
        "--duration=60s",
        "--ramp-up=1s",
        "--warm-up=1s",
        "--progress-every=0.5s",
        f"--json={report_path}",
    )
    measuring = threading.Event()
    progress: list[str] = []

    def read_progress() -> None:
        assert run.stderr is not None
        for line in run.stderr:
            progress.append(line)
            if "measure]" in line and "delivered 0 " not in line:
                measuring.set()

    reader = threading.Thread(target=read_progress, daemon=True)
    reader.start()
    try:
        assert measuring.wait(60), "".join(progress)
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
    finally:
        run.kill()
    reader.join(10)  # the reader alone reads stderr, to its end
    assert run.stdout is not None
    out = run.stdout.read()
    assert run.returncode == 130, out + "".join(progress)
    assert "interrupted)" in out.splitlines()[0]  # "... of 60 s measured (interrupted)"
    assert "NOTE      interrupted: partial figures" in out
    report = orjson.loads(report_path.read_bytes())
    assert report["interrupted"] is True
    assert 0 < report["measured_s"] < 60
    assert report["messages"]["sent"] > 0
    assert report["messages"]["delivered"] > 0
    assert report["join"]["joined"] == 30
    assert "interrupted; the figures above are partial" in "".join(progress)
