"""One load-generator process: runs its share of the clients on uvloop and reports a Tally.

Besides the clients it watches itself (CPU time, event-loop lag), so a saturated generator
shows up in the report instead of passing for a slow server.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import signal
import ssl
import time
import traceback
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any, TypeAlias

import uvloop

from loadtest.client import ClientContext, SimulatedClient
from loadtest.plan import NS_PER_S, RunPlan
from loadtest.schedule import sleep_until
from loadtest.stats import Tally, percentile

# What a worker tells the coordinator: (kind, worker index, payload); kind is "ready",
# "progress" (a snapshot dict), "result" (its Tally) or "failed" (a traceback).
WorkerMessage: TypeAlias = tuple[str, int, Any]

LAG_PROBE_S = 0.1
CLOSE_GRACE_S = 5.0
STOP_POLL_S = 0.1
# After an early stop (Ctrl-C): listening time for messages already in flight.
STOP_DRAIN_S = 1.0


def raise_open_file_limit() -> None:
    # Each client is a socket; the default soft limit (often 1024) is too low for thousands.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def tls_context(insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True)
class RunSignals:
    """What the coordinator tells its workers across processes: start at `t0` once `go` is
    set; after `stop` is set, end the measurement at `stop_at` (both CLOCK_MONOTONIC ns)."""

    go: Event
    t0: Any  # multiprocessing.Value("q")
    stop: Event
    stop_at: Any  # multiprocessing.Value("q")


def worker_main(
    plan: RunPlan, worker: int, queue: Queue[WorkerMessage], signals: RunSignals, progress_s: float
) -> None:
    """Process entry point: announce readiness, wait for the common start, run, report."""
    # The coordinator handles Ctrl-C and SIGTERM, and tells us through `signals.stop`.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        raise_open_file_limit()
        queue.put(("ready", worker, None))
        if not signals.go.wait(timeout=60):
            return
        t0_ns = signals.t0.value
        tally = uvloop.run(run_clients(plan, worker, t0_ns, queue, progress_s, signals))
        queue.put(("result", worker, tally))
    except BaseException:
        queue.put(("failed", worker, traceback.format_exc(limit=5)))


async def run_clients(
    plan: RunPlan,
    worker: int,
    t0_ns: int,
    queue: Queue[WorkerMessage] | None,
    progress_s: float,
    signals: RunSignals | None = None,
) -> Tally:
    tally = Tally.with_windows(plan.window_count)
    # Loading CA certificates takes tens of milliseconds: only for wss://, and before t0.
    tls = tls_context(plan.insecure) if any(u.startswith("wss:") for u in plan.urls) else None
    ctx = ClientContext(plan, t0_ns, tally, tls)
    ranks = plan.sender_ranks()
    clients = [SimulatedClient(i, ctx, ranks.get(i)) for i in plan.clients_of_worker(worker)]
    # From t0: a shard may wait long for --start-at, and that wait is not the run.
    await sleep_until(t0_ns)
    cpu_start, wall_start = time.process_time(), time.monotonic()

    tasks = [asyncio.create_task(c.run()) for c in clients]
    tasks += [asyncio.create_task(c.send_loop()) for c in clients if c.is_sender]
    helpers = [asyncio.create_task(watch_loop_lag(ctx))]
    if queue is not None:
        helpers.append(
            asyncio.create_task(report_progress(ctx, clients, worker, queue, progress_s))
        )
    if plan.churn_rate > 0:
        helpers.append(asyncio.create_task(churn(ctx, clients)))

    if await stopped_early(ctx, signals):
        assert signals is not None
        # Every worker ends the measurement at the coordinator's instant (just ahead, so
        # no send is counted on one side only); senders see it and return, and what is in
        # flight has a moment to arrive.
        stop_at = max(ctx.measure_start, signals.stop_at.value)
        ctx.measure_end = min(ctx.measure_end, stop_at)
        await sleep_until(max(stop_at, time.monotonic_ns()) + int(STOP_DRAIN_S * NS_PER_S))
    tally.measured_until_ns = ctx.measure_end - t0_ns
    ctx.stopping.set()
    for task in helpers:
        task.cancel()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_GRACE_S):
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, *helpers, return_exceptions=True)

    tally.cpu_seconds.append(time.process_time() - cpu_start)
    tally.wall_seconds.append(time.monotonic() - wall_start)
    for client in clients:
        if client.first_join_ns is None:
            tally.join_failures += 1
        elif client.measured:
            tally.members_by_room[client.room] += 1
        else:
            tally.late_joiners += 1
    return tally


async def stopped_early(ctx: ClientContext, signals: RunSignals | None) -> bool:
    """Wait for the planned end of the run; True if the coordinator said stop before it."""
    end_ns = ctx.t0_ns + ctx.plan.stop_ns
    if signals is None:
        await sleep_until(end_ns)
        return False
    while time.monotonic_ns() < end_ns:
        if signals.stop.is_set():
            return True
        await asyncio.sleep(min(STOP_POLL_S, max(0.0, (end_ns - time.monotonic_ns()) / NS_PER_S)))
    return False


async def watch_loop_lag(ctx: ClientContext) -> None:
    """How late a short sleep wakes up during the measurement: a busy loop delays every
    client's reads and sends, and so inflates the latency the relay is charged with."""
    await sleep_until(ctx.measure_start)
    while True:
        before = time.monotonic_ns()
        await asyncio.sleep(LAG_PROBE_S)
        after = time.monotonic_ns()
        if after > ctx.measure_end:
            return
        ctx.tally.loop_lag_us.append(max(0, after - before - int(LAG_PROBE_S * NS_PER_S)) // 1000)


async def churn(ctx: ClientContext, clients: list[SimulatedClient]) -> None:
    """Drop random listening clients at this worker's share of the churn rate.

    Senders are left alone: their sends would stall during the downtime and the resulting
    delay would measure the churn, not the relay.
    """
    plan = ctx.plan
    listeners = [c for c in clients if not c.is_sender]
    if not listeners:
        return
    interval_s = plan.generators / plan.churn_rate  # the rate is the whole run's
    await sleep_until(ctx.t0_ns + plan.send_start_ns)
    while time.monotonic_ns() < ctx.measure_end:
        await asyncio.sleep(random.expovariate(1 / interval_s))
        candidates = [c for c in listeners if c.conn is not None and not c.dropping]
        if candidates and time.monotonic_ns() < ctx.measure_end:
            random.choice(candidates).drop()


async def report_progress(
    ctx: ClientContext,
    clients: list[SimulatedClient],
    worker: int,
    queue: Queue[WorkerMessage],
    every_s: float,
) -> None:
    tally = ctx.tally
    while True:
        await asyncio.sleep(every_s)
        now = time.monotonic_ns()
        recent_p99_ms = None
        if now >= ctx.measure_start:
            window = (now - ctx.measure_start) // ctx.window_ns - 1
            if 0 <= window < len(tally.latency_windows) and tally.latency_windows[window]:
                recent_p99_ms = percentile(sorted(tally.latency_windows[window]), 99) / 1000
        lag = tally.loop_lag_us[-10:]
        queue.put(
            (
                "progress",
                worker,
                {
                    "joined": sum(c.first_join_ns is not None for c in clients),
                    "connected": sum(c.conn is not None for c in clients),
                    "sent": tally.sent,
                    "delivered": tally.delivered,
                    "errors": sum(tally.error_frames.values())
                    + sum(tally.connect_errors.values())
                    + sum(tally.close_codes.values()),
                    "reconnects": tally.reconnects,
                    "p99_ms": recent_p99_ms,
                    "lag_ms": max(lag) / 1000 if lag else 0.0,
                },
            )
        )
