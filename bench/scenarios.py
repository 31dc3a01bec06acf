"""Scenarios A-E of issue 4, each run with `python -m loadtest` against fresh relays, and
E-shards of issue 6 (E on one Redis shard, then on a 3-primary Redis Cluster)."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis

from bench.contenders import RELAY_ENV
from bench.environment import describe
from bench.shards import E_SHARDS, ShardProbe, count_keys, summarise, window
from harness.cluster import LocalCluster
from harness.redis_server import RedisServer
from harness.relay import RelayFleet, RelayProcess

REPO = Path(__file__).resolve().parents[1]
JOINED = re.compile(r"joined (\d+)/(\d+)")


C_MAX_P99_MS = 250.0
C_RATES = (10, 20, 30, 40, 50, 60, 80, 100, 125, 150)  # msg/s per sender on B's shape


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Timing:
    duration: str
    warm_up: str
    ramp_up: str
    step: str  # measured time of each step of C
    hold: str  # D: how long the idle connections are held


FULL = Timing(duration="30s", warm_up="5s", ramp_up="2s", step="10s", hold="8s")
QUICK = Timing(duration="4s", warm_up="1s", ramp_up="1s", step="3s", hold="4s")


class Cluster:
    """redis-server for the whole bench, and 2 fresh relays per scenario."""

    def __init__(self) -> None:
        self.redis = RedisServer()
        self.fleet = RelayFleet(RELAY_ENV)

    @property
    def relays(self) -> list[RelayProcess]:
        return self.fleet.relays

    def __enter__(self) -> Cluster:
        self.redis.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_relays()
        self.redis.__exit__(None, None, None)  # stops it and removes its directory

    def start_relays(self, count: int = 2, redis_cluster: LocalCluster | None = None) -> list[str]:
        """Fresh relays on a flushed Redis: the bench's redis-server, or a Redis Cluster
        (then in REDIS_CLUSTER=true mode, pointed at one node like a configuration endpoint)."""
        self.stop_relays()
        if redis_cluster is None:
            client = self.redis.client()
            client.flushall()
            client.close()
            self.fleet.start(count, REDIS_URL=self.redis.url)
        else:
            redis_cluster.flush()
            self.fleet.start(count, REDIS_URL=redis_cluster.url, REDIS_CLUSTER="true")
        return self.fleet.urls

    def stop_relays(self) -> None:
        self.fleet.stop()

    def relay_rss(self) -> int:
        return sum(
            psutil.Process(r.process.pid).memory_info().rss
            for r in self.relays
            if r.process is not None
        )


def run_loadtest(
    urls: list[str],
    args: list[str],
    name: str,
    results: Path,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the tool as an operator would; return its JSON report."""
    json_path, plot_path = results / f"{name}.json", results / f"{name}.png"
    command = [
        sys.executable,
        "-m",
        "loadtest",
        *urls,
        *args,
        "--json",
        str(json_path),
        "--plot",
        str(plot_path),
        "--progress-every",
        "0.5" if on_progress else "5",
    ]
    print(f"\n=== {name}: loadtest {' '.join(args)}", flush=True)
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stderr_lines: list[str] = []

    def follow_progress() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr_lines.append(line)
            if on_progress is not None:
                on_progress(line)
            elif "joined" in line:
                print("   ", line.rstrip(), flush=True)

    reader = threading.Thread(target=follow_progress, daemon=True)
    reader.start()
    try:
        stdout, _ = process.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise BenchError(f"{name}: loadtest did not finish in 15 minutes") from None
    reader.join(timeout=5)
    print(stdout, end="", flush=True)
    if process.returncode not in (0, 1):
        raise BenchError(f"{name}: loadtest exited {process.returncode}: {''.join(stderr_lines)}")
    report: dict[str, Any] = orjson.loads(json_path.read_bytes())  # our own JSON object
    return report


def shape(clients: int, rooms: int, senders: int, rate: float, timing: Timing) -> list[str]:
    return [
        f"--clients={clients}",
        f"--rooms={rooms}",
        f"--senders={senders}",
        f"--rate={rate:g}",
        f"--duration={timing.duration}",
        f"--warm-up={timing.warm_up}",
        f"--ramp-up={timing.ramp_up}",
    ]


def scenario_a(cluster: Cluster, timing: Timing, results: Path) -> dict[str, Any]:
    urls = cluster.start_relays()
    return run_loadtest(urls, shape(100, 1, 10, 2, timing), "A", results)


def scenario_b(cluster: Cluster, timing: Timing, results: Path) -> dict[str, Any]:
    urls = cluster.start_relays()
    return run_loadtest(urls, shape(200, 1, 20, 5, timing), "B", results)


def scenario_c(cluster: Cluster, timing: Timing, results: Path) -> dict[str, Any]:
    """B's shape at rising rates until p99 passes 250 ms or a message is lost."""
    steps = []
    best: dict[str, Any] | None = None
    for rate in C_RATES:
        urls = cluster.start_relays()
        step_timing = Timing(timing.step, timing.warm_up, timing.ramp_up, timing.step, timing.hold)
        args = [*shape(200, 1, 20, rate, step_timing), "--workers=2"]
        report = run_loadtest(urls, args, f"C-{rate:g}", results)
        p99 = report["latency_ms"].get("p99")
        clean = p99 is not None and p99 <= C_MAX_P99_MS and report["messages"]["lost"] == 0
        steps.append(
            {
                "rate_per_sender": rate,
                "offered_deliveries_per_s": report["plan"]["offered_deliveries_per_s"],
                "deliveries_per_s": report["throughput"]["deliveries_per_s"],
                "p99_ms": p99,
                "lost": report["messages"]["lost"],
                "generator_saturated": report["generator"]["saturated"],
                "clean": clean,
            }
        )
        if not clean:
            break
        best = report
    summary = {"steps": steps, "limit_p99_ms": C_MAX_P99_MS, "best": best}
    summary["highest_clean_deliveries_per_s"] = (
        best["throughput"]["deliveries_per_s"] if best else 0.0
    )
    (results / "C.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    return summary


def scenario_d(cluster: Cluster, timing: Timing, results: Path) -> dict[str, Any]:
    """1000 clients at once, nobody sends: join time, then relay memory per idle connection."""
    clients = 1000
    urls = cluster.start_relays()
    time.sleep(1.0)  # let the fresh relays settle before the baseline
    before = cluster.relay_rss()
    all_joined_at: list[float] = []
    samples: list[tuple[float, int]] = []
    stop_sampling = threading.Event()

    def watch_joins(line: str) -> None:
        match = JOINED.search(line)
        if match and int(match.group(1)) == clients and not all_joined_at:
            all_joined_at.append(time.monotonic())

    def sample_rss() -> None:
        while not stop_sampling.wait(0.2):
            samples.append((time.monotonic(), cluster.relay_rss()))

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    args = [
        f"--clients={clients}",
        "--senders=0",
        "--ramp-up=0",
        "--warm-up=0",
        "--drain=0",
        f"--duration={timing.hold}",
        "--workers=2",
    ]
    try:
        report = run_loadtest(urls, args, "D", results, on_progress=watch_joins)
    finally:
        stop_sampling.set()
        sampler.join(timeout=5)
    # Steady state: from a second after everyone joined until a second before the hold ends.
    steady = [
        rss
        for t, rss in samples
        if all_joined_at and all_joined_at[0] + 1.0 <= t <= samples[-1][0] - 1.0
    ]
    during = int(statistics.median(steady)) if steady else max((r for _, r in samples), default=0)
    joined = report["join"]["joined"]
    report["relay_memory"] = {
        "rss_before_bytes": before,
        "rss_with_idle_connections_bytes": during,
        "rss_peak_bytes": max((r for _, r in samples), default=0),
        "idle_connections": joined,
        "bytes_per_idle_connection": round((during - before) / joined) if joined else None,
        "samples": len(steady),
    }
    (results / "D.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    return report


def scenario_e(cluster: Cluster, timing: Timing, results: Path) -> dict[str, Any]:
    urls = cluster.start_relays()
    return run_loadtest(urls, [*shape(1000, 100, 100, 2, timing), "--workers=2"], "E", results)


def run_e_on(
    cluster: Cluster,
    timing: Timing,
    results: Path,
    shards: Sequence[RedisServer],
    redis_cluster: LocalCluster | None,
) -> dict[str, Any]:
    """E's shape against relays on `shards` (one standalone server, or the cluster's
    primaries); returns the loadtest report with a "redis" section per shard."""
    count = len(shards)
    urls = cluster.start_relays(redis_cluster=redis_cluster)
    labels = [f"127.0.0.1:{shard.port}" for shard in shards]
    relays = [f"relay {i + 1}" for i in range(len(cluster.relays))]
    probe = ShardProbe(
        shards={
            label: (shard.process.pid, shard.port)
            for label, shard in zip(labels, shards, strict=True)
            if shard.process is not None
        },
        relays={
            label: relay.process.pid
            for label, relay in zip(relays, cluster.relays, strict=True)
            if relay.process is not None
        },
    )
    try:
        probe.marks["start"] = probe.snapshot()
        report = run_loadtest(
            urls,
            [*shape(1000, 100, 100, 2, timing), "--workers=2"],
            f"{E_SHARDS}-{count}",
            results,
            on_progress=probe.on_progress,
        )
        probe.marks["end"] = probe.snapshot()
        prefix = report["plan"]["room_prefix"] or f"lt-{report['plan']['run_id']}"
        keys = {
            label: count_keys(shard.port, prefix)
            for label, shard in zip(labels, shards, strict=True)
        }
    finally:
        probe.close()
    kind, before, after = window(probe.marks)
    report["redis"] = {
        "shards_count": count,
        "mode": "cluster mode, sharded Pub/Sub" if redis_cluster else "standalone",
        **summarise(kind, before, after, labels, relays, keys),
        "problems": probe.problems,
    }
    shares = ", ".join(f"{row['cpu_core_share']:.1%}" for row in report["redis"]["shards"])
    print(f"    Redis CPU per shard ({kind}): {shares}", flush=True)
    return report


def scenario_e_shards(cluster: Cluster, timing: Timing, results: Path) -> dict[str, Any]:
    """E on the bench's standalone redis-server, then on a 3-primary local Redis Cluster."""
    environment = describe(REPO)
    redis_cluster = LocalCluster(primaries=3, replicas=0)
    try:
        single = run_e_on(cluster, timing, results, [cluster.redis], None)
        cluster.stop_relays()
        redis_cluster.start()
        sharded = run_e_on(cluster, timing, results, redis_cluster.primaries(), redis_cluster)
    except (subprocess.SubprocessError, redis.RedisError, psutil.Error) as exc:
        raise BenchError(f"{E_SHARDS}: {exc!r}") from exc
    finally:
        cluster.stop_relays()  # before the cluster goes, so no relay sees it vanish
        redis_cluster.stop()
    summary = {"environment": environment, "runs": [single, sharded]}
    (results / f"{E_SHARDS}.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
    )
    return summary


SCENARIOS: dict[str, Callable[[Cluster, Timing, Path], dict[str, Any]]] = {
    "A": scenario_a,
    "B": scenario_b,
    "C": scenario_c,
    "D": scenario_d,
    "E": scenario_e,
    E_SHARDS: scenario_e_shards,
}
