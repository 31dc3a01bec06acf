"""`python -m bench.sharding [--quick] [--only same-plan,10k]`: sharded load tests measured.

same-plan: one plan against 2 relays on one redis-server, run unsharded (3 workers) twice
    and as 3 shards (3 processes of 1 worker, one --start-at), merged with
    `python -m loadtest merge`. Prints counts and percentiles of all three, so the sharded
    figures can be read against the noise between the two unsharded runs.
10k: 10,000 connections from 4 shards on this host against the same 2 relays, with each
    relay's CPU over the measured window and each generator's CPU from its report: where
    one host stops being able to generate (and to serve) the load.

Writes bench/results/sharding.json; the figures go into docs/loadtest.md by hand.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.environment import describe
from bench.scenarios import Cluster
from loadtest.arguments import duration

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
START_LEAD_S = 15  # interpreters, preflight and workers of every shard start within it
SAME_PLAN = ["--clients=300", "--rooms=3", "--senders=30", "--rate=4"]
TEN_K = ["--clients=10000", "--rooms=100", "--senders=100", "--rate=1", "--ramp-up=20s"]
TEN_K_SHARDS = 4


def run_tool(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    print("$ python -m loadtest", " ".join(args), flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "loadtest", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    print(done.stdout, end="", flush=True)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"loadtest exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def run_shards(
    urls: list[str], args: list[str], shards: int, out: Path, relays: list[int]
) -> tuple[dict[str, Any], list[float]]:
    """`shards` processes on one --start-at, merged; and each relay's CPU share (of a core)
    over the measured window, sampled at the planned instants of that window."""
    start_at = int(time.time()) + START_LEAD_S
    paths = [out / f"shard-{k}.json" for k in range(1, shards + 1)]
    print(f"$ {shards} x python -m loadtest ... --shard K/{shards} --start-at={start_at}")
    processes = [
        subprocess.Popen(
            [
                sys.executable, "-m", "loadtest", *urls, *args, "-q",
                f"--shard={k}/{shards}", f"--start-at={start_at}", f"--json={path}",
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k, path in enumerate(paths, start=1)
    ]  # fmt: skip
    try:
        relay_cpu = relay_cpu_share(relays, start_at, args)
        for process in processes:
            _, err = process.communicate(timeout=600)
            if process.returncode != 0:
                raise RuntimeError(f"a shard exited {process.returncode}: {err[-2000:]}")
    finally:
        for process in processes:
            process.kill()
    merged = out / "merged.json"
    run_tool(["merge", *map(str, paths), f"--json={merged}"])
    return orjson.loads(merged.read_bytes()), relay_cpu


def planned(args: list[str], flag: str, default: float) -> float:
    for arg in args:
        if arg.startswith(f"{flag}="):
            return duration(arg.split("=", 1)[1])
    return default


def relay_cpu_share(relays: list[int], start_at: float, args: list[str]) -> list[float]:
    """CPU seconds per wall second of each relay between the planned start and end of the
    measurement (the plan fixes both from --start-at)."""
    measure_start = start_at + planned(args, "--ramp-up", 5) + planned(args, "--warm-up", 5)
    measure_end = measure_start + planned(args, "--duration", 30)
    processes = [psutil.Process(pid) for pid in relays]
    time.sleep(max(0.0, measure_start - time.time()))
    before = [sum(p.cpu_times()[:2]) for p in processes], time.monotonic()
    time.sleep(max(0.0, measure_end - time.time()))
    after = [sum(p.cpu_times()[:2]) for p in processes], time.monotonic()
    wall = after[1] - before[1]
    return [round((a - b) / wall, 3) for a, b in zip(after[0], before[0], strict=True)]


def figures(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "expected": report["messages"]["expected"],
        "delivered": report["messages"]["delivered"],
        "lost": report["messages"]["lost"],
        "duplicated": report["messages"]["duplicated"],
        "latency_ms": {
            k: report["latency_ms"].get(k) for k in ("count", "p50", "p90", "p99", "p999", "max")
        },
        "generator_cpu": report["generator"]["cpu_per_worker"],
        "generator_saturated": report["generator"]["saturated"],
        "joined": report["join"]["joined"],
    }


def same_plan(cluster: Cluster, timing: list[str], out: Path) -> dict[str, Any]:
    runs: dict[str, dict[str, Any]] = {}
    for name in ("unsharded-1", "sharded-3", "unsharded-2"):  # interleaved: same conditions
        urls = cluster.start_relays()
        if name.startswith("unsharded"):
            path = out / f"{name}.json"
            run_tool([*urls, *SAME_PLAN, *timing, "--workers=3", "-q", f"--json={path}"])
            runs[name] = figures(orjson.loads(path.read_bytes()))
        else:
            pids = [relay.pid for relay in cluster.relays]
            merged, _ = run_shards(urls, [*SAME_PLAN, *timing], 3, out, pids)
            runs[name] = figures(merged)
    print("\nsame plan, unsharded (3 workers) x2 and 3 shards x 1 worker:")
    print(f"{'run':<12} {'expected':>9} {'delivered':>9}  p50    p90    p99    p99.9  ms")
    for name, run in runs.items():
        lat = run["latency_ms"]
        print(
            f"{name:<12} {run['expected']:>9} {run['delivered']:>9}  "
            + "  ".join(f"{lat[k]:5.2f}" for k in ("p50", "p90", "p99", "p999"))
        )
    return runs


def ten_k(cluster: Cluster, timing: list[str], out: Path) -> dict[str, Any]:
    urls = cluster.start_relays()
    pids = [relay.pid for relay in cluster.relays]
    merged, relay_cpu = run_shards(urls, [*TEN_K, *timing], TEN_K_SHARDS, out, pids)
    result = {**figures(merged), "relay_cpu": relay_cpu, "shards": TEN_K_SHARDS}
    print(
        f"\n10k: joined {result['joined']}, relay CPU {relay_cpu} of a core each, "
        f"generator CPU {result['generator_cpu']} (saturated: {result['generator_saturated']})"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sharding", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short measurement windows")
    parser.add_argument("--only", default="same-plan,10k", help="same-plan, 10k or both")
    args = parser.parse_args(argv)
    timing = (
        ["--duration=4s", "--warm-up=1s", "--drain=2s"]
        if args.quick
        else ["--duration=20s", "--warm-up=3s", "--drain=2s"]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "sharding"
    out.mkdir(exist_ok=True)
    results: dict[str, Any] = {"environment": describe(REPO), "quick": args.quick}
    with Cluster() as cluster:
        if "same-plan" in args.only:
            results["same_plan"] = same_plan(cluster, [*timing, "--ramp-up=2s"], out)
        if "10k" in args.only:
            results["ten_k"] = ten_k(cluster, timing, out)
    (RESULTS / "sharding.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"\nwrote {RESULTS / 'sharding.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
