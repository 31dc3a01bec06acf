"""`idle`: 10,000 idle connections on one relay: memory per connection measured directly
(joins spread over IDLE_RAMP, so no storm's heap is counted) and the CPU they cost while
only WebSocket pings move (PING_INTERVAL 20 s, as deployed). The stacks' scaling target,
connections per task, follows from these two figures (docs/benchmarks.md)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.contenders import RELAY_ENV
from bench.runs import JOINED, run_loadtest
from bench.scenarios import QUICK, Cluster, Timing
from harness.relay import RelayProcess

IDLE = "idle"
IDLE_CLIENTS, IDLE_ROOMS = 10_000, 100
IDLE_RAMP_S, IDLE_HOLD_S = 20, 45  # the hold spans two ping intervals
QUICK_CLIENTS, QUICK_RAMP_S, QUICK_HOLD_S = 1000, 2, 6


def scenario_idle(cluster: Cluster, timing: Timing, results: Path) -> dict[str, Any]:
    quick = timing is QUICK
    clients = QUICK_CLIENTS if quick else IDLE_CLIENTS
    ramp_s, hold_s = (QUICK_RAMP_S, QUICK_HOLD_S) if quick else (IDLE_RAMP_S, IDLE_HOLD_S)
    cluster.stop_relays()
    client = cluster.redis.client()
    client.flushall()
    client.close()
    with RelayProcess(env={**RELAY_ENV, "REDIS_URL": cluster.redis.url}) as relay:
        assert relay.process is not None
        process = psutil.Process(relay.process.pid)
        time.sleep(1.0)
        before = process.memory_info().rss
        marks: dict[str, tuple[float, float, int]] = {}  # name -> (time, cpu s, rss)

        def mark(name: str) -> None:
            cpu = process.cpu_times()
            marks[name] = (time.monotonic(), cpu.user + cpu.system, process.memory_info().rss)

        def on_progress(line: str) -> None:
            match = JOINED.search(line)
            if match and int(match.group(1)) == clients and "joined" not in marks:
                mark("joined")
                # Idle from a few seconds after the last join to the end of the hold.
                threading.Timer(3.0, mark, ("idle_from",)).start()
                threading.Timer(hold_s - 2.0, mark, ("idle_to",)).start()

        args = [
            f"--clients={clients}",
            f"--rooms={IDLE_ROOMS}",
            "--senders=0",
            f"--ramp-up={ramp_s}s",
            "--warm-up=0",
            "--drain=0",
            f"--duration={ramp_s + hold_s}s",
            "--workers=2",
        ]
        report = run_loadtest([relay.ws], args, IDLE, results, on_progress=on_progress)
    joined = report["join"]["joined"]
    idle = marks.get("idle_from")
    summary: dict[str, Any] = {
        "clients": clients,
        "joined": joined,
        "rooms": IDLE_ROOMS,
        "ramp_s": ramp_s,
        "hold_s": hold_s,
        "rss_before_bytes": before,
        "ping_interval_s": 20,
    }
    if idle is not None and "idle_to" in marks:
        t0, cpu0, _ = idle
        t1, cpu1, rss = marks["idle_to"]
        summary |= {
            "rss_idle_bytes": rss,
            "rss_per_connection_bytes": round((rss - before) / joined) if joined else None,
            "idle_cpu_core_share": round((cpu1 - cpu0) / (t1 - t0), 4),
            "idle_window_s": round(t1 - t0, 1),
        }
    (results / f"{IDLE}.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return summary
