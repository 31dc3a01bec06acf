"""`python -m bench.api_post [--quick]`: the server API against the WebSocket, back to back.

Two relays over one redis-server; 200 members in one room, half on each relay. After a
warm-up round of each, rounds alternate: a WebSocket member sends N messages, then the API
posts N (on the first relay), at the same pace; every delivery to every member is timed
from just before its send (one clock: all clients live in this process). Each round's p99
fan-out is taken, and the medians of the rounds are compared: the issue asks the API's to
be within 1.5x. Then the API posts/s one relay sustains (a room without members, so the
relay's API path and its store are measured, not this process's reading of fan-out), in
memory and in Redis mode.

Prints the results and writes bench/results/api_post.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.contenders import RELAY_ENV
from harness.redis_server import RedisServer
from harness.relay import RelayFleet, RelayProcess
from loadtest.stats import summarize_us

RESULTS = Path(__file__).resolve().parent / "results" / "api_post.json"
KEY = "bench-key-0123456789abcdef"
# The relays' per-connection and per-key limits would measure themselves, not the relay.
ENV = {
    **RELAY_ENV,
    "SERVER_API_KEYS": KEY,
    "API_RATE_LIMIT": "1000000",
    "API_RATE_BURST": "1000000",
}
ROOM = "bench-api"
MARK = "bench-"
TEXT_MARK = f'"text":"{MARK}'  # how a marked text starts in a frame
RATIO_LIMIT = 1.5


@dataclass(frozen=True)
class Plan:
    members: int = 200
    rounds: int = 5  # of each kind, after one warm-up round of each
    messages: int = 40  # per round
    pace: float = 0.1  # seconds between sends
    post_seconds: float = 10.0  # the posts/s phase, per mode
    post_connections: int = 16


QUICK = Plan(members=40, rounds=2, messages=10, pace=0.05, post_seconds=2.0)


@dataclass
class Stamps:
    sent: dict[int, float] = field(default_factory=dict)  # message seq -> perf_counter
    latencies: dict[int, list[int]] = field(default_factory=dict)  # seq -> microseconds


async def member(url: str, stamps: Stamps, ready: asyncio.Event, joined: list[int]) -> None:
    # A generous opening handshake: 200 members connect at once on a shared machine.
    async with connect(url, compression=None, max_queue=None, open_timeout=60) as ws:
        await ws.send(orjson.dumps({"type": "join", "room": ROOM}).decode())
        for _ in range(3):  # welcome, member_history, message_history
            await ws.recv()
        joined[0] += 1
        if joined[0] == joined[1]:
            ready.set()
        async for raw in ws:
            now = time.perf_counter()
            text = raw if isinstance(raw, str) else raw.decode()
            # The text's mark, not the room's name (frames carry "room" too).
            at = text.find(TEXT_MARK)
            if at < 0 or '"type":"messages"' not in text:
                continue
            start = at + len(TEXT_MARK)
            seq = int(text[start : text.index('"', start)])
            sent = stamps.sent.get(seq)
            if sent is not None:
                stamps.latencies.setdefault(seq, []).append(int((now - sent) * 1e6))


async def http_post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str, body: bytes
) -> int:
    """One keep-alive HTTP/1.1 request; its status. Hand-written so that the load generator
    costs less than the relay it measures."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def all_joined(
    ready: asyncio.Event, members: list[asyncio.Task[None]], timeout: float
) -> None:
    """Wait until every member joined; a member that failed on the way raises its error
    (rather than the wait running out with nothing to say)."""
    waiting = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait(
        [waiting, *members], timeout=timeout, return_when="FIRST_COMPLETED"
    )
    if waiting not in done:
        waiting.cancel()
        for task in done:
            task.result()  # a member that ended before all joined: its error
        raise TimeoutError(f"not every member joined within {timeout:g} s")


async def fanout_rounds(relays: list[RelayProcess], plan: Plan) -> dict[str, Any]:
    stamps = Stamps()
    ready = asyncio.Event()
    joined = [0, plan.members]
    urls = [relays[i % len(relays)].ws for i in range(plan.members)]
    members = [asyncio.create_task(member(url, stamps, ready, joined)) for url in urls]
    await all_joined(ready, members, 60)
    host = f"127.0.0.1:{relays[0].port}"
    path = f"/api/v1/rooms/{ROOM}/messages"
    sender: ClientConnection = await connect(relays[0].ws, compression=None, max_queue=None)
    await sender.send(orjson.dumps({"type": "join", "room": ROOM}).decode())
    seq = 0
    rounds: dict[str, list[dict[str, Any]]] = {"websocket": [], "api": []}
    try:
        # A first round of each kind warms both paths (connections, caches) and is not kept.
        for index in range(plan.rounds + 1):
            for kind in ("websocket", "api"):
                first = seq
                if kind == "api":
                    # A fresh keep-alive connection per round: the relay closes a connection
                    # that sends no request head within REQUEST_HEAD_TIMEOUT.
                    reader, writer = await asyncio.open_connection("127.0.0.1", relays[0].port)
                for _ in range(plan.messages):
                    seq += 1
                    text = f"{MARK}{seq}"
                    stamps.sent[seq] = time.perf_counter()
                    if kind == "websocket":
                        await sender.send(orjson.dumps({"type": "send", "text": text}).decode())
                    else:
                        body = orjson.dumps({"text": text, "username": "Bench bot"})
                        status = await http_post(reader, writer, host, path, body)
                        if status != 201:
                            raise RuntimeError(f"API post answered {status}")
                    await asyncio.sleep(plan.pace)
                if kind == "api":
                    writer.close()
                await asyncio.sleep(1.0)  # the last deliveries of the round
                samples = [
                    us for s in range(first + 1, seq + 1) for us in stamps.latencies.get(s, [])
                ]
                expected = plan.messages * plan.members
                summary = summarize_us(samples)
                summary["delivered"] = f"{len(samples)}/{expected}"
                if index > 0:
                    rounds[kind].append(summary)
    finally:
        await sender.close()
        for task in members:
            task.cancel()
        await asyncio.gather(*members, return_exceptions=True)
    medians = {kind: statistics.median(r["p99"] for r in rs) for kind, rs in rounds.items()}
    median_p50 = {kind: statistics.median(r["p50"] for r in rs) for kind, rs in rounds.items()}
    return {
        "members": plan.members,
        "rounds": rounds,
        "median_p99_ms": medians,
        "median_p50_ms": median_p50,
        "ratio_p99": round(medians["api"] / medians["websocket"], 3),
    }


async def posts_per_second(relay: RelayProcess, plan: Plan) -> dict[str, Any]:
    host = f"127.0.0.1:{relay.port}"
    path = "/api/v1/rooms/bench-empty/messages"
    body = orjson.dumps({"text": "throughput", "username": "Bench bot"})
    counts = [0, 0]  # created, other statuses
    stop = time.perf_counter() + plan.post_seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        try:
            while time.perf_counter() < stop:
                status = await http_post(reader, writer, host, path, body)
                counts[0 if status == 201 else 1] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(plan.post_connections)))
    elapsed = time.perf_counter() - started
    return {
        "posts_per_second": round(counts[0] / elapsed),
        "created": counts[0],
        "refused": counts[1],
        "seconds": round(elapsed, 2),
        "connections": plan.post_connections,
    }


def run(plan: Plan) -> dict[str, Any]:
    with RedisServer() as redis_server, RelayFleet({**ENV, "REDIS_URL": redis_server.url}) as fleet:
        relays = fleet.start(2)
        fanout = asyncio.run(fanout_rounds(relays, plan))
        redis_posts = asyncio.run(posts_per_second(relays[0], plan))
    with RelayProcess(env=ENV) as single:
        memory_posts = asyncio.run(posts_per_second(single, plan))
    return {
        "fanout": fanout,
        "posts": {"redis": redis_posts, "memory": memory_posts},
        "within_limit": fanout["ratio_p99"] <= RATIO_LIMIT,
        "plan": plan.__dict__,
    }


def report(result: dict[str, Any]) -> str:
    fanout = result["fanout"]
    lines = [
        f"fan-out to {fanout['members']} members over 2 relays + redis-server "
        f"({len(fanout['rounds']['api'])} rounds of each, back to back):",
    ]
    for kind in ("websocket", "api"):
        p99s = ", ".join(f"{r['p99']:.1f}" for r in fanout["rounds"][kind])
        lines.append(
            f"  {kind:9} median p50 {fanout['median_p50_ms'][kind]:.1f} ms, "
            f"median p99 {fanout['median_p99_ms'][kind]:.1f} ms (rounds' p99: {p99s})"
        )
    verdict = "within" if result["within_limit"] else "NOT within"
    lines.append(f"  API / WebSocket p99: {fanout['ratio_p99']:.2f} ({verdict} {RATIO_LIMIT}x)")
    for mode, posts in result["posts"].items():
        lines.append(
            f"API posts/s, one relay ({mode}): {posts['posts_per_second']} "
            f"({posts['created']} in {posts['seconds']} s over {posts['connections']} "
            f"keep-alive connections, {posts['refused']} refused)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_post", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run: proves the harness")
    args = parser.parse_args(argv)
    result = run(QUICK if args.quick else Plan())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(report(result))
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
