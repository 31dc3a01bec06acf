"""`python -m bench.rooms [--rounds 3] [--quick]`: many rooms on one connection (issue 25),
K = 1 against K = 10 rooms per client, back to back in one run.

(a) Fan-out: two relays over one redis-server (the bench's Cluster), the same clients and
senders and the same message rate, rooms of the same size (10 members), so the offered
deliveries per second are equal and only the rooms per socket differ: K = 1 is N clients in
N/10 rooms, K = 10 is N clients in N rooms, each client in 10 of them (`--rooms-per-client
10`). Figures: fan-out p99 and the relays' CPU per delivery (psutil, both relays, over the
measured window). (b) Idle memory: N idle clients on one relay, joins spread over a ramp,
RSS per connection with 1 and with 10 rooms each (rooms of 10 members again).

Rounds interleave the two sides, the order swapped every other round; each figure is the
median over rounds and the ratio is K10 / K1 of the medians. Per-run loadtest reports go
to bench/results/rooms/, the summary to bench/results/rooms.json.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.contenders import RELAY_ENV
from bench.environment import describe
from bench.held import fan_out, idle_connections, rounds_arguments
from bench.scenarios import Cluster
from harness.relay import RelayProcess

ROOMS = "rooms"
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
ROOM_SIZE = 10
SIDES = (1, 10)  # rooms per client


@dataclass(frozen=True)
class Size:
    clients: int
    senders: int
    rate: float  # msg/s per sender
    duration: str
    warm_up: str
    ramp_up: str  # K = 10 is ten joins per client: a storm on a busy host without one
    idle_clients: int
    idle_ramp_s: int
    idle_hold_s: int


# Sized for the shared 2-core machine: 5,000 deliveries/s; 2000 idle clients (20,000
# room joins at K = 10) over 20 s.
FULL = Size(500, 50, 10, "15s", "5s", "5s", 2000, 20, 10)
QUICK = Size(100, 10, 5, "3s", "1s", "2s", 200, 2, 4)


def fan_out_args(size: Size, k: int) -> list[str]:
    rooms = size.clients * k // ROOM_SIZE
    return [
        f"--clients={size.clients}",
        f"--rooms={rooms}",
        f"--rooms-per-client={k}",
        f"--senders={size.senders}",
        f"--rate={size.rate:g}",
        f"--duration={size.duration}",
        f"--warm-up={size.warm_up}",
        f"--ramp-up={size.ramp_up}",
        "--join-timeout=30s",
        "--workers=2",
    ]


def idle_args(size: Size, k: int) -> list[str]:
    rooms = size.idle_clients * k // ROOM_SIZE
    return [
        f"--clients={size.idle_clients}",
        f"--rooms={rooms}",
        f"--rooms-per-client={k}",
        "--senders=0",
        f"--ramp-up={size.idle_ramp_s}s",
        "--warm-up=0",
        "--drain=0",
        f"--duration={size.idle_ramp_s + size.idle_hold_s}s",
        "--join-timeout=30s",
        "--workers=2",
    ]


def fan_out_run(cluster: Cluster, size: Size, k: int, name: str, out: Path) -> dict[str, Any]:
    urls = cluster.start_relays()
    pids = [relay.pid for relay in cluster.relays]
    return fan_out(urls, pids, fan_out_args(size, k), name, out)


def idle_run(cluster: Cluster, size: Size, k: int, name: str, out: Path) -> dict[str, Any]:
    cluster.stop_relays()
    client = cluster.redis.client()
    client.flushall()
    client.close()
    with RelayProcess(env={**RELAY_ENV, "REDIS_URL": cluster.redis.url}) as relay:
        return idle_connections(
            relay.ws, relay.pid, idle_args(size, k), size.idle_clients, size.idle_hold_s, name, out
        )


def medians(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    keys = {key for run in runs for key, value in run.items() if not isinstance(value, bool)}
    found: dict[str, float | None] = {}
    for key in sorted(keys):
        values = [run[key] for run in runs if run.get(key) is not None]
        found[key] = statistics.median(values) if len(values) == len(runs) else None
    return found


def ratio(after: float | None, before: float | None) -> float | None:
    return round(after / before, 3) if after is not None and before else None


def run(rounds: int, size: Size, results: Path) -> dict[str, Any]:
    out = results / ROOMS
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {
        "fan_out": {k: [] for k in SIDES},
        "idle": {k: [] for k in SIDES},
    }
    load: list[list[float]] = []
    with Cluster() as cluster:
        for index in range(rounds):
            order = SIDES if index % 2 == 0 else tuple(reversed(SIDES))
            for k in order:
                load.append([round(x, 2) for x in os.getloadavg()])
                name = f"fan-out-K{k}-{index + 1}"
                runs["fan_out"][k].append(fan_out_run(cluster, size, k, name, out))
            for k in order:
                name = f"idle-K{k}-{index + 1}"
                runs["idle"][k].append(idle_run(cluster, size, k, name, out))
    summary: dict[str, Any] = {
        "environment": describe(REPO),
        "rounds": rounds,
        "size": asdict(size),
        "room_size": ROOM_SIZE,
        "load_average_before_runs": load,
    }
    for part, by_k in runs.items():
        meds = {f"K{k}": medians(by_k[k]) for k in SIDES}
        summary[part] = {
            **meds,
            "K10/K1": {
                key: ratio(meds["K10"][key], value)
                for key, value in meds["K1"].items()
                if key not in ("clients", "joined")
            },
            "runs": {f"K{k}": by_k[k] for k in SIDES},
            "generator_saturated_runs": sum(
                bool(r.get("generator_saturated")) for k in SIDES for r in by_k[k]
            ),
        }
    (results / f"{ROOMS}.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
    )
    return summary


def table(summary: dict[str, Any]) -> str:
    rows = [
        f"median of {summary['rounds']} | K = 1 | K = 10 | K10 / K1",
        "--- | ---: | ---: | ---:",
    ]
    shown = (
        ("fan_out", "offered_deliveries_per_s", "offered deliveries/s", 1.0),
        ("fan_out", "deliveries_per_s", "deliveries/s", 1.0),
        ("fan_out", "p50_ms", "fan-out p50 ms", 1.0),
        ("fan_out", "p99_ms", "fan-out p99 ms", 1.0),
        ("fan_out", "lost", "lost deliveries", 1.0),
        ("fan_out", "relay_cpu_core_share", "relay CPU, both, share of a core", 1.0),
        ("fan_out", "relay_cpu_us_per_delivery", "relay CPU per delivery, us", 1.0),
        ("idle", "rss_per_connection_bytes", "idle RSS per connection, KiB", 1 / 1024),
    )
    for part, key, label, scale in shown:
        one, ten = summary[part]["K1"].get(key), summary[part]["K10"].get(key)
        share = summary[part]["K10/K1"].get(key)
        cells = ["-" if v is None else f"{v * scale:,.2f}" for v in (one, ten)]
        rows.append(f"{label} | {cells[0]} | {cells[1]} | {'-' if share is None else share}")
    return "\n".join(f"| {row} |" for row in rows)


def main(argv: list[str] | None = None) -> int:
    args = rounds_arguments("python -m bench.rooms", __doc__, RESULTS, argv)
    summary = run(args.rounds, QUICK if args.quick else FULL, args.results)
    print(table(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
