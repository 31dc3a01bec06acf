"""`python -m bench.idle_heap [--clients 2000] [--rooms-per-client 1] [--ws IMPL]`: what each
joined idle connection holds on the relay's heap, by allocation site (tracemalloc).

One relay (bench/relay_variant.py: tracemalloc with 16 frames, started after start-up;
nothing in production code) over a throwaway redis-server. A snapshot is taken then, N clients
join (spread over a ramp, nobody sends), and a second snapshot two seconds after the last
join; each is taken after a full garbage collection. The difference, grouped by the
allocation's traceback and then by its site (the innermost frame in the relay, Starlette,
uvicorn, websockets or asyncio), is divided by N: bytes and objects per connection per
site. Also printed: the relay's RSS per connection in the same run (inflated by tracemalloc's
own bookkeeping, so only the traced figure is read from this run). Summary in
bench/results/idle_heap.json (or --results DIR).
"""

from __future__ import annotations

import argparse
import linecache
import os
import re
import signal
import tempfile
import threading
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.contenders import RELAY_ENV
from bench.environment import describe
from bench.relay_variant import VariantRelay
from bench.runs import JOINED, run_loadtest
from harness.polling import wait_until
from harness.redis_server import RedisServer

IDLE_HEAP = "idle_heap"
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
# Where an allocation is charged: the innermost frame in the relay or a library it is built
# on (so an asyncio.Queue made by uvicorn is uvicorn's line that made it); asyncio's own
# frames only when nothing else is on the stack. Allocations made by uvloop's C code (its
# transports, sockets and read buffers) have only the frame that runs the loop above them.
OWNERS = (
    ("service", f"{REPO}/service/"),
    ("starlette", "/starlette/"),
    ("uvicorn", "/uvicorn/"),
    ("websockets", "/websockets/"),
)
LOOP_FRAME = f"{REPO}/service/__main__.py"  # server.run(): the loop, below it only C code
SHOWN = 40  # sites in the printed table
# What each site is part of, for the page's object-by-object table: the first pattern that
# matches a site ("owner/file:line") names its group; patterns are checked in order.
GROUPS = (
    (
        r"websockets_sansio_impl\.py:(120|96|112)$|ws_protocol\.py:(100|101|102|48|50)$"
        r"|asyncio/(locks|queues)\.py",
        "uvicorn protocol object: attribute dict, queue, writable event",
    ),
    (r"websockets_sansio_impl\.py:345$", "uvicorn keepalive ping timer"),
    (
        r"websockets_sansio_impl\.py:(268|269|270)$|_weakrefset|weakref\.py",
        "ASGI task (Task, done callback, uvicorn's task set)",
    ),
    (
        r"websockets_sansio_impl\.py:(409|552)$|proxy_headers|starlette/websockets\.py",
        "coroutine frames: uvicorn run_asgi, proxy-headers middleware, receive",
    ),
    (
        r"websockets_sansio_impl\.py:(24[1-9]|25\d|26[0-7])$|starlette/(datastructures|requests)",
        "ASGI scope and its headers (bytes pairs), Starlette's Headers view",
    ),
    (
        r"websockets/(http11|datastructures)|websockets/server\.py:(232|393)",
        "handshake request and headers (websockets), kept by its parser",
    ),
    (
        r"websockets/|websockets_sansio_impl\.py:(105|291)$",
        "websockets ServerProtocol: parser generators, reader, buffers",
    ),
    (r"uvicorn/protocols/utils|httptools_impl|uuid", "socket addresses, protocol switch, uuid"),
    (r"asyncio/runners\.py|uvloop", "uvloop (C): transport, socket, handles"),
    (
        r"service/(app|session)\.py:(1[0-9][0-9]|2\d\d|3\d\d)$|asyncio/tasks\.py",
        "relay: frames of the session's await chain, Session object",
    ),
    (
        r"service/(connection|subscriptions|hub)\.py|service/session\.py",
        "relay: ClientConnection, Subscriptions, hub membership",
    ),
    (r"service/|faker|secrets|redis|asyncio/", "relay: member, identity, presence, roster"),
)


def site_of(traceback: tracemalloc.Traceback) -> tuple[str, str]:
    """(owner, "owner/file:line") of the innermost frame in the relay or its libraries."""
    frames = list(reversed(traceback))  # innermost first
    if frames[0].filename == LOOP_FRAME:
        return "uvloop", "uvloop (C code under the running loop)"
    for frame in frames:
        for owner, marker in OWNERS:
            if marker in frame.filename:
                short = frame.filename.split(marker, 1)[1]
                return owner, f"{owner}/{short}:{frame.lineno}"
    for frame in frames:
        if "/asyncio/" in frame.filename:
            return "asyncio", f"asyncio/{frame.filename.split('/asyncio/', 1)[1]}:{frame.lineno}"
    return "other", f"{frames[0].filename}:{frames[0].lineno}"


def group_of(site: str) -> str:
    for pattern, label in GROUPS:
        if re.search(pattern, site):
            return label
    return "other"


def snapshot(relay: VariantRelay, directory: Path, number: int) -> tracemalloc.Snapshot:
    os.kill(relay.pid, signal.SIGUSR1)
    done = directory / f"{number}.done"
    wait_until(done.exists, 120, what=f"tracemalloc snapshot {number}")
    return tracemalloc.Snapshot.load(str(directory / f"{number}.snapshot"))


def per_site(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, joined: int
) -> list[dict[str, Any]]:
    sizes: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for diff in after.compare_to(before, "traceback"):
        if diff.size_diff == 0 and diff.count_diff == 0:
            continue
        key = site_of(diff.traceback)
        sizes[key][0] += diff.size_diff
        sizes[key][1] += diff.count_diff
    rows: list[dict[str, Any]] = []
    for (owner, site), (size, count) in sizes.items():
        rows.append(
            {
                "owner": owner,
                "site": site,
                "code": source_line(site),
                "bytes_per_connection": round(size / joined, 1),
                "objects_per_connection": round(count / joined, 2),
            }
        )
    rows.sort(key=lambda row: row["bytes_per_connection"], reverse=True)
    return rows


def source_line(site: str) -> str:
    owner, _, rest = site.partition("/")
    file, _, line = rest.rpartition(":")
    if not line.isdigit():
        return ""
    roots = {"service": REPO / "service", **library_roots()}
    root = roots.get(owner)
    path = str(root / file) if root is not None else site.rpartition(":")[0]
    return linecache.getline(path, int(line)).strip()


def library_roots() -> dict[str, Path]:
    import asyncio

    import starlette
    import uvicorn
    import websockets

    return {
        "asyncio": Path(asyncio.__file__).parent,
        "starlette": Path(starlette.__file__).parent,
        "uvicorn": Path(uvicorn.__file__).parent,
        "websockets": Path(websockets.__file__).parent,
    }


def measure(
    clients: int, rooms_per_client: int, ws: str | None, results: Path, hold_s: int = 40
) -> dict[str, Any]:
    out = results / IDLE_HEAP
    out.mkdir(parents=True, exist_ok=True)
    rooms = max(rooms_per_client, clients * rooms_per_client // 10)  # rooms of 10 members
    ramp_s = max(2, clients // 100)  # traced joins are slow; the hold outlasts them
    with (
        tempfile.TemporaryDirectory(prefix="idle-heap-") as snapshots,
        RedisServer() as redis,
        VariantRelay(
            env={**RELAY_ENV, "REDIS_URL": redis.url}, ws=ws, tracemalloc_dir=Path(snapshots)
        ) as relay,
    ):
        directory = Path(snapshots)
        process = psutil.Process(relay.pid)
        time.sleep(1.0)
        before = snapshot(relay, directory, 1)
        rss_before = process.memory_info().rss
        taken: dict[str, Any] = {}

        def take_after() -> None:
            taken["rss"] = process.memory_info().rss
            taken["snapshot"] = snapshot(relay, directory, 2)

        def on_progress(line: str) -> None:
            match = JOINED.search(line)
            if match and int(match.group(1)) == clients and "timer" not in taken:
                taken["timer"] = threading.Timer(2.0, take_after)
                taken["timer"].start()

        args = [
            f"--clients={clients}",
            f"--rooms={rooms}",
            f"--rooms-per-client={rooms_per_client}",
            "--senders=0",
            f"--ramp-up={ramp_s}s",
            "--warm-up=0",
            "--drain=0",
            f"--duration={ramp_s + hold_s}s",
            f"--join-timeout={hold_s}s",
            "--workers=2",
        ]
        tag = f"K{rooms_per_client}-{ws or 'default'}"
        report = run_loadtest([relay.ws], args, f"idle-heap-{tag}", out, on_progress)
        if "timer" in taken:
            taken["timer"].join(timeout=150)
        joined: int = report["join"]["joined"]
        if "snapshot" not in taken or not joined:
            raise RuntimeError(f"idle_heap: {joined}/{clients} joined, no second snapshot")
        after: tracemalloc.Snapshot = taken["snapshot"]
    traced = sum(s.size for s in after.statistics("filename")) - sum(
        s.size for s in before.statistics("filename")
    )
    sites = per_site(before, after, joined)
    by_owner: dict[str, float] = defaultdict(float)
    by_group: dict[str, float] = defaultdict(float)
    for row in sites:
        by_owner[row["owner"]] += row["bytes_per_connection"]
        by_group[group_of(row["site"])] += row["bytes_per_connection"]
    return {
        "clients": clients,
        "joined": joined,
        "rooms": rooms,
        "rooms_per_client": rooms_per_client,
        "ws": ws or "default",
        "traced_bytes_per_connection": round(traced / joined, 1),
        "rss_per_connection_bytes_with_tracemalloc": round((taken["rss"] - rss_before) / joined),
        "bytes_per_connection_by_owner": {k: round(v, 1) for k, v in by_owner.items()},
        "bytes_per_connection_by_group": {
            k: round(v, 1) for k, v in sorted(by_group.items(), key=lambda kv: -kv[1])
        },
        "sites": sites,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_heap", description=__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rooms-per-client", type=int, default=1)
    parser.add_argument("--hold", type=int, default=40, help="seconds the clients stay")
    parser.add_argument("--ws", default=None, help="uvicorn --ws (default: the relay's)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="(default bench/results)")
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    summary = measure(args.clients, args.rooms_per_client, args.ws, args.results, args.hold)
    summary = {"environment": describe(REPO), **summary}
    name = IDLE_HEAP if args.rooms_per_client == 1 else f"{IDLE_HEAP}-K{args.rooms_per_client}"
    (args.results / f"{name}.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
    )
    print(
        f"\ntraced {summary['traced_bytes_per_connection'] / 1024:.2f} KiB per joined idle "
        f"connection ({summary['joined']} joined); by owner: "
        + ", ".join(
            f"{k} {v / 1024:.2f} KiB" for k, v in summary["bytes_per_connection_by_owner"].items()
        )
    )
    print("| KiB per connection | part |\n|---:|---|")
    for label, size in summary["bytes_per_connection_by_group"].items():
        print(f"| {size / 1024:.2f} | {label} |")
    print("\n| KiB/conn | objects/conn | site | code |\n|---:|---:|---|---|")
    for row in summary["sites"][:SHOWN]:
        print(
            f"| {row['bytes_per_connection'] / 1024:.3f} | {row['objects_per_connection']:.2f} "
            f"| {row['site']} | `{row['code'][:80]}` |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
