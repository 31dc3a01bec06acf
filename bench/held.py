"""What the many-rooms and WebSocket-implementation benchmarks share: a fan-out run with the
relays' CPU over its measured window, idle connections held on one relay with its RSS per
connection (as bench/idle.py measures it: joins spread over a ramp, so no storm's heap is
counted, RSS read a few seconds after the last join and at the hold's end), and their
command line.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.runs import JOINED, run_loadtest
from bench.shards import PHASE


def relay_cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def fan_out(
    urls: list[str], pids: list[int], args: list[str], name: str, results: Path
) -> dict[str, Any]:
    """One loadtest run; its latency and loss, and the relays' CPU over the measured window
    (sampled when the progress line turns to `measure` and to `drain`, within 0.5 s)."""
    marks: dict[str, tuple[float, float]] = {}  # phase -> (time, relay CPU s)

    def on_progress(line: str) -> None:
        match = PHASE.match(line)
        phase = match.group(1) if match else None
        if phase in ("measure", "drain") and phase not in marks:
            if phase == "drain" and "measure" not in marks:
                return
            # A relay gone mid-run shows as a missing figure, not a crash of the reader.
            with contextlib.suppress(psutil.Error):
                marks[phase] = (time.monotonic(), relay_cpu_s(pids))

    report = run_loadtest(urls, args, name, results, on_progress=on_progress)
    figures: dict[str, Any] = {
        "p50_ms": report["latency_ms"].get("p50"),
        "p99_ms": report["latency_ms"].get("p99"),
        "offered_deliveries_per_s": report["plan"]["offered_deliveries_per_s"],
        "deliveries_per_s": report["throughput"]["deliveries_per_s"],
        "delivered": report["messages"]["delivered"],
        "lost": report["messages"]["lost"],
        "generator_saturated": report["generator"]["saturated"],
    }
    if "measure" in marks and "drain" in marks:
        (t0, cpu0), (t1, cpu1) = marks["measure"], marks["drain"]
        deliveries = report["throughput"]["deliveries_per_s"] * (t1 - t0)
        figures["relay_cpu_core_share"] = round((cpu1 - cpu0) / (t1 - t0), 4)
        figures["relay_cpu_us_per_delivery"] = (
            round((cpu1 - cpu0) / deliveries * 1e6, 2) if deliveries else None
        )
    return figures


def idle_connections(
    url: str, pid: int, args: list[str], clients: int, hold_s: float, name: str, results: Path
) -> dict[str, Any]:
    """`clients` idle connections (loadtest `args`, senders 0) on the relay `pid`; RSS per
    connection from the relay's RSS before to its RSS at the end of the hold."""
    process = psutil.Process(pid)
    time.sleep(1.0)  # a fresh relay settles before the baseline
    before = process.memory_info().rss
    marks: dict[str, int] = {}

    def mark(label: str) -> None:
        with contextlib.suppress(psutil.Error):
            marks[label] = process.memory_info().rss

    def on_progress(line: str) -> None:
        match = JOINED.search(line)
        if match and int(match.group(1)) == clients and "joined" not in marks:
            mark("joined")
            threading.Timer(max(0.5, hold_s - 2.0), mark, ("idle",)).start()

    report = run_loadtest([url], args, name, results, on_progress=on_progress)
    joined: int = report["join"]["joined"]
    idle = marks.get("idle")
    return {
        "clients": clients,
        "joined": joined,
        "rss_before_bytes": before,
        "rss_idle_bytes": idle,
        "rss_per_connection_bytes": round((idle - before) / joined)
        if idle is not None and joined
        else None,
    }


def rounds_arguments(
    prog: str, description: str | None, results: Path, argv: list[str] | None
) -> argparse.Namespace:
    """`--rounds N --quick --results DIR`, as both benchmarks take them; DIR is created."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="tiny runs: proves the harness")
    parser.add_argument("--results", type=Path, default=results, help="(default bench/results)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.results.mkdir(parents=True, exist_ok=True)
    return args
