"""Case 8: one consumer throttled to a trickle while the others receive ~500 messages/s.

One relay on redis-server. `python -m loadtest` drives a room of 20 members where 10 senders
post 50 messages/s each (2,000-character texts), so every member receives 500 messages/s.
Runs alternate: a baseline without the slow consumer, then the same load with one more member
in the room that reads a frame every 0.2 s from a small socket buffer (it stops keeping up).

What must hold, in every run with the slow consumer:
- it is closed with 1013 (SEND_BUFFER_BYTES behind), and the others lose nothing: 0 lost,
  0 duplicated, 0 out of order;
- the relay's memory stays bounded: its peak RSS is within RSS_MARGIN_MIB of the baseline's.

The others' fan-out latency p99 should stay within 1.5x of the baseline's. That is a
performance figure on a shared machine, so it is printed (median over the repetitions, and the
ratio), not asserted: timing assertions on a busy 2-core host fail on noise, not on the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from harness.paths import REPO
from tests.support.figures import report
from tests.support.measures import rounded, rss_mib

pytestmark = pytest.mark.anyio

SEND_BUFFER_BYTES = 524288  # the relay's default, set explicitly so the figures name it
RSS_MARGIN_MIB = 32.0
TRICKLE_INTERVAL_S = 0.2
SLOW_RCVBUF = 8192


@dataclass(frozen=True)
class Variant:
    repetitions: int
    seconds: float


VARIANTS = {
    "quick": Variant(repetitions=1, seconds=4),
    "long": Variant(repetitions=3, seconds=10),
}
LOAD = ["--clients=20", "--senders=10", "--rate=50", "--message-size=2000", "--workers=1"]


async def run_loadtest(url: str, room_prefix: str, seconds: float, out: Path) -> dict:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loadtest",
        url,
        *LOAD,
        f"--duration={seconds}s",
        "--ramp-up=1s",
        "--warm-up=1s",
        "--drain=2s",
        f"--room-prefix={room_prefix}",
        f"--json={out}",
        "-q",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), seconds + 60)
    assert process.returncode == 0, output.decode()
    return orjson.loads(await asyncio.to_thread(out.read_bytes))


async def sample_rss(relay, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mib(relay))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def connect_slow(url: str, room: str) -> ClientConnection:
    """A member whose socket buffer is small and whose client stops reading after 4 frames."""
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    ws = await connect(url, sock=sock, compression=None, max_queue=4, ping_interval=None)
    await ws.send(orjson.dumps({"type": "join", "room": room}).decode())
    return ws


async def trickle(ws: ClientConnection, stop: asyncio.Event) -> int:
    """Read one frame per TRICKLE_INTERVAL_S until told to stop; returns frames read."""
    frames = 0
    with contextlib.suppress(ConnectionClosed):
        while not stop.is_set():
            await ws.recv()
            frames += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TRICKLE_INTERVAL_S)
    return frames


async def drain_until_closed(ws: ClientConnection, idle: float) -> tuple[int | None, int]:
    """Read fast until the relay's close arrives or nothing came for `idle` seconds (then the
    relay did not close it: code None); returns (close code, messages read)."""
    messages = 0
    with contextlib.suppress(ConnectionClosed):
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), idle)
            except TimeoutError:
                await ws.close()
                return None, messages
            messages += orjson.loads(frame)["type"] == "messages"
    return ws.close_code, messages


async def one_run(relay, tmp_path: Path, name: str, slow: bool, seconds: float) -> dict:
    peak, stop = [0.0], asyncio.Event()
    sampler = asyncio.create_task(sample_rss(relay, peak, stop))
    slow_ws = await connect_slow(relay.ws, f"{name}-0") if slow else None
    trickling = asyncio.create_task(trickle(slow_ws, stop)) if slow_ws else None
    try:
        result = await run_loadtest(relay.ws, name, seconds, tmp_path / f"{name}.json")
    finally:
        stop.set()
        await sampler
    figures = {
        "p99_ms": result["latency_ms"]["p99"],
        "p50_ms": result["latency_ms"]["p50"],
        "deliveries": result["messages"]["delivered"],
        "lost": result["messages"]["lost"],
        "duplicated": result["messages"]["duplicated"],
        "out_of_order": result["messages"]["out_of_order"],
        "generator_saturated": result["generator"]["saturated"],
        "peak_rss_mib": peak[0],
    }
    if slow_ws is not None and trickling is not None:
        trickled = await trickling
        code, read = await drain_until_closed(slow_ws, idle=5)
        figures.update(slow_close_code=code, slow_read_frames=trickled, slow_messages=read)
    return figures


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param("quick"),
        pytest.param("long", marks=[pytest.mark.faults, pytest.mark.timeout(900)]),
    ],
)
async def test_slow_consumer_is_closed_and_others_keep_their_latency(
    variant: str, start_relays, tmp_path: Path
) -> None:
    plan = VARIANTS[variant]
    (relay,) = start_relays(
        1, SEND_BUFFER_BYTES=str(SEND_BUFFER_BYTES), RATE_LIMIT="200", RATE_BURST="200"
    )
    baseline, slowed = [], []
    for rep in range(plan.repetitions):
        baseline.append(await one_run(relay, tmp_path, f"base{rep}", False, plan.seconds))
        slowed.append(await one_run(relay, tmp_path, f"slow{rep}", True, plan.seconds))

    base_p99 = statistics.median(r["p99_ms"] for r in baseline)
    slow_p99 = statistics.median(r["p99_ms"] for r in slowed)
    ratio = slow_p99 / base_p99
    rss_growth = max(r["peak_rss_mib"] for r in slowed) - max(r["peak_rss_mib"] for r in baseline)
    report(
        "8-slow-consumer",
        variant=variant,
        **rounded(
            {
                "load": "20 members, 10 senders x 50 msg/s, 2000-char texts, 1 relay",
                "received_per_member_per_s": 500,
                "repetitions": plan.repetitions,
                "measured_s_each": plan.seconds,
                "send_buffer_bytes": SEND_BUFFER_BYTES,
                "baseline_p99_ms_median": base_p99,
                "with_slow_p99_ms_median": slow_p99,
                "p99_ratio": ratio,
                "p99_within_1_5x": ratio <= 1.5,
                "rss_growth_mib": rss_growth,
                "baseline_runs": baseline,
                "slow_runs": slowed,
            }
        ),
    )
    for run in slowed:
        assert run["slow_close_code"] == 1013, run
        assert run["lost"] == run["duplicated"] == run["out_of_order"] == 0, run
    for run in baseline:
        assert run["lost"] == run["duplicated"] == 0, run
    assert rss_growth < RSS_MARGIN_MIB
