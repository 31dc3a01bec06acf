"""`python -m bench.ws_impl [--rounds 3] [--quick]`: the WebSocket implementations uvicorn
offers (`--ws`), side by side in one run, each on the same relay (bench/relay_variant.py).

For each implementation installed in this environment, every round: idle RSS per
connection (one relay, joins spread over a ramp, as bench/idle.py), fan-out p99 (two relays
over one redis-server, 200 clients in one room, 20 senders) and the join storm (scenario D,
bench/storm.py: 1000 clients at once, two relays; time until all joined). The order of the
implementations rotates from round to round; each figure is the median over rounds.
Summary in bench/results/ws_impl.json, per-run reports in bench/results/ws_impl/.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import statistics
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.contenders import RELAY_ENV
from bench.environment import describe
from bench.held import fan_out, idle_connections, rounds_arguments
from bench.relay_variant import WS_IMPLEMENTATIONS, VariantRelay, default_ws
from bench.storm import join_storm
from harness.redis_server import RedisServer

WS_IMPL = "ws_impl"
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
# What each implementation imports; one not installed is reported, not run.
NEEDS = {
    "websockets-sansio": "websockets",
    "websockets": "websockets",
    "wsproto": "wsproto",
    "lean-sansio": "websockets",
}


@dataclass(frozen=True)
class Size:
    idle_clients: int
    idle_ramp_s: int
    idle_hold_s: int
    rate: float  # msg/s per sender, 20 senders, 200 clients in one room
    duration: str
    storm_clients: int
    storm_hold: str


FULL = Size(2000, 5, 8, 20, "10s", 1000, "10s")  # fan-out 80,000 deliveries/s
QUICK = Size(100, 1, 3, 2, "2s", 50, "3s")


def installed() -> tuple[list[str], list[str]]:
    have = [ws for ws in WS_IMPLEMENTATIONS if importlib.util.find_spec(NEEDS[ws]) is not None]
    return have, [ws for ws in WS_IMPLEMENTATIONS if ws not in have]


@contextlib.contextmanager
def relays(ws: str, redis: RedisServer, count: int) -> Iterator[list[VariantRelay]]:
    client = redis.client()
    client.flushall()
    client.close()
    with contextlib.ExitStack() as stack:
        started = []
        for _ in range(count):
            relay = VariantRelay(env={**RELAY_ENV, "REDIS_URL": redis.url}, ws=ws)
            stack.push(relay.__exit__)
            started.append(relay.start())
        yield started


def one_round(ws: str, redis: RedisServer, size: Size, tag: str, out: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    idle_args = [
        f"--clients={size.idle_clients}",
        "--rooms=100",
        "--senders=0",
        f"--ramp-up={size.idle_ramp_s}s",
        "--warm-up=0",
        "--drain=0",
        f"--duration={size.idle_ramp_s + size.idle_hold_s}s",
        "--workers=2",
    ]
    with relays(ws, redis, 1) as (relay,):
        idle = idle_connections(
            relay.ws, relay.pid, idle_args, size.idle_clients, size.idle_hold_s, f"idle-{tag}", out
        )
    figures["idle_rss_per_connection_bytes"] = idle["rss_per_connection_bytes"]
    figures["idle_joined"] = idle["joined"]
    fan_out_args = [
        "--clients=200",
        "--rooms=1",
        "--senders=20",
        f"--rate={size.rate:g}",
        f"--duration={size.duration}",
        "--warm-up=2s",
        "--ramp-up=1s",
        "--workers=2",
    ]
    with relays(ws, redis, 2) as pair:
        urls, pids = [r.ws for r in pair], [r.pid for r in pair]
        run = fan_out(urls, pids, fan_out_args, f"fan-out-{tag}", out)
    figures |= {f"fan_out_{key}": value for key, value in run.items()}
    with relays(ws, redis, 2) as pair:

        def rss() -> int:
            return sum(psutil.Process(r.pid).memory_info().rss for r in pair)

        storm = join_storm(
            [r.ws for r in pair],
            rss,
            hold=size.storm_hold,
            name=f"storm-{tag}",
            results=out,
            clients=size.storm_clients,
            join_timeout=size.storm_hold,
        )
    figures["storm_all_joined_s"] = storm.report["join"]["all_joined_s"]
    figures["storm_joined"] = storm.joined
    figures["storm_join_p99_ms"] = storm.report["join"].get("p99")
    return figures


def run(rounds: int, size: Size, results: Path) -> dict[str, Any]:
    out = results / WS_IMPL
    out.mkdir(parents=True, exist_ok=True)
    have, missing = installed()
    runs: dict[str, list[dict[str, Any]]] = {ws: [] for ws in have}
    load: list[list[float]] = []
    with RedisServer() as redis:
        for index in range(rounds):
            shift = index % len(have)
            for ws in have[shift:] + have[:shift]:
                load.append([round(x, 2) for x in os.getloadavg()])
                runs[ws].append(one_round(ws, redis, size, f"{ws}-{index + 1}", out))
    medians: dict[str, dict[str, float | None]] = {}
    for ws, ws_runs in runs.items():
        keys = sorted({k for r in ws_runs for k, v in r.items() if not isinstance(v, bool)})
        medians[ws] = {
            key: statistics.median([r[key] for r in ws_runs])
            if all(r.get(key) is not None for r in ws_runs)
            else None
            for key in keys
        }
    summary = {
        "environment": describe(REPO),
        "rounds": rounds,
        "size": asdict(size),
        "default": getattr(default_ws(), "__name__", default_ws()),
        "measured": have,
        "not_installed": missing,
        "medians": medians,
        "runs": runs,
        "load_average_before_runs": load,
    }
    (results / f"{WS_IMPL}.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
    )
    return summary


def table(summary: dict[str, Any]) -> str:
    names = summary["measured"]
    rows = [
        " | ".join([f"median of {summary['rounds']}", *names]),
        " | ".join(["---", *["---:"] * len(names)]),
    ]
    shown = (
        ("idle_rss_per_connection_bytes", "idle RSS per connection, KiB", 1 / 1024),
        ("fan_out_p99_ms", "fan-out p99 ms", 1.0),
        ("fan_out_lost", "fan-out lost", 1.0),
        ("fan_out_relay_cpu_us_per_delivery", "relay CPU per delivery, us", 1.0),
        ("storm_all_joined_s", "join storm: all joined, s", 1.0),
    )
    for key, label, scale in shown:
        values = [summary["medians"][ws].get(key) for ws in names]
        rows.append(
            " | ".join([label, *["-" if v is None else f"{v * scale:,.2f}" for v in values]])
        )
    text = "\n".join(f"| {row} |" for row in rows)
    if summary["not_installed"]:
        text += f"\n\nnot installed, not measured: {', '.join(summary['not_installed'])}"
    return text


def main(argv: list[str] | None = None) -> int:
    args = rounds_arguments("python -m bench.ws_impl", __doc__, RESULTS, argv)
    print(table(run(args.rounds, QUICK if args.quick else FULL, args.results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
