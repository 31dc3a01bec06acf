"""Scenarios A-E of issue 4, each run with `python -m loadtest` against fresh relays, and
E-shards of issue 6 (E on one Redis shard, then on a 3-primary Redis Cluster)."""

from __future__ import annotations

import subprocess
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
from bench.runs import BenchError, run_loadtest
from bench.shards import E_SHARDS, ShardProbe, count_keys, summarise, window
from bench.storm import join_storm
from harness.cluster import LocalCluster
from harness.redis_server import RedisServer
from harness.relay import RelayFleet, RelayProcess

REPO = Path(__file__).resolve().parents[1]


C_MAX_P99_MS = 250.0
C_RATES = (10, 20, 30, 40, 50, 60, 80, 100, 125, 150)  # msg/s per sender on B's shape


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
    """The join storm (bench/storm.py) on the relays: join time, then relay memory per idle
    connection while they are held."""
    urls = cluster.start_relays()
    time.sleep(1.0)  # let the fresh relays settle before the baseline
    storm = join_storm(urls, cluster.relay_rss, hold=timing.hold, name="D", results=results)
    report, joined = storm.report, storm.joined
    during = storm.steady_rss()
    report["relay_memory"] = {
        "rss_before_bytes": storm.rss_before,
        "rss_with_idle_connections_bytes": during,
        "rss_peak_bytes": storm.peak_rss(),
        "idle_connections": joined,
        "bytes_per_idle_connection": round((during - storm.rss_before) / joined)
        if joined
        else None,
        "samples": len(storm.steady_samples()),
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
