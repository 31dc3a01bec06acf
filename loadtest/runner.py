"""Starts the worker processes on a common clock, relays their progress, merges their tallies.

The start instant t0 is either a moment just after every worker is ready, or `--start-at`
(a wall-clock time): each shard of a run maps that same wall-clock instant onto its own
CLOCK_MONOTONIC, so the shards send on one schedule wherever they run.

A first Ctrl-C (or SIGTERM, which is how `ecs stop-task` stops a shard) ends the run early:
the workers stop sending, listen briefly for what is in flight and report what they have,
so the caller can still print and write the partial figures. A second one aborts.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from typing import Any

from loadtest.plan import NS_PER_S, RunPlan
from loadtest.stats import Tally
from loadtest.worker import (
    CLOSE_GRACE_S,
    STOP_DRAIN_S,
    STOP_POLL_S,
    RunSignals,
    WorkerMessage,
    worker_main,
)

START_MARGIN_S = 0.3  # between "everyone is ready" and t0, so every worker sees t0 ahead
READY_TIMEOUT_S = 60.0
RESULT_GRACE_S = 60.0  # beyond the planned end, for closing sockets and pickling samples
STOP_LEAD_S = 3 * STOP_POLL_S
CLOCK_READS = 5  # pairs of (wall, monotonic) reads; the tightest pair maps --start-at

ProgressCallback = Callable[[float, dict[str, Any]], None]


class WorkerFailed(RuntimeError):
    pass


class StartMissed(RuntimeError):
    """--start-at had passed by the time every worker was ready."""


@dataclass
class RunOutcome:
    tally: Tally
    interrupted: bool = False


def monotonic_at(wall_ns: int) -> int:
    """The CLOCK_MONOTONIC reading at which the wall clock will show `wall_ns`."""
    best: tuple[int, int, int] | None = None
    for _ in range(CLOCK_READS):
        before = time.monotonic_ns()
        wall = time.time_ns()
        after = time.monotonic_ns()
        if best is None or after - before < best[0]:
            best = (after - before, wall, (before + after) // 2)
    assert best is not None
    _, wall, monotonic = best
    return monotonic + (wall_ns - wall)


def run_workers(
    plan: RunPlan,
    on_progress: ProgressCallback,
    progress_s: float = 1.0,
    start_at_ns: int | None = None,
) -> RunOutcome:
    """Run the plan's share on `plan.workers` processes; return the merged tally.

    `start_at_ns`: wall-clock nanoseconds since the epoch at which t0 falls (None: now).
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    signals = RunSignals(
        context.Event(), context.Value("q", 0), context.Event(), context.Value("q", 0)
    )
    processes = [
        context.Process(
            target=worker_main,
            args=(plan, w, queue, signals, progress_s),
            name=f"loadtest-worker-{w}",
            daemon=True,
        )
        for w in range(plan.workers)
    ]
    for process in processes:
        process.start()
    tallies: dict[int, Tally] = {}
    stopping = StopRequest(signals)
    try:
        _wait_for(queue, processes, "ready", lambda: time.monotonic() + READY_TIMEOUT_S, {}, {})
        t0_ns = _start_instant(start_at_ns)
        signals.t0.value = t0_ns
        signals.go.set()
        progress: dict[int, dict[str, Any]] = {}

        def forward(worker: int, snapshot: dict[str, Any]) -> None:
            progress[worker] = snapshot
            on_progress((time.monotonic_ns() - t0_ns) / NS_PER_S, combine_progress(progress))

        end_s = (t0_ns - time.monotonic_ns() + plan.stop_ns) / NS_PER_S
        planned_deadline = time.monotonic() + end_s + RESULT_GRACE_S

        def deadline() -> float:
            if stopping.at is None:
                return planned_deadline
            return min(planned_deadline, stopping.at + STOP_DRAIN_S + CLOSE_GRACE_S + 10.0)

        with stopping:
            _wait_for(queue, processes, "result", deadline, {"progress": forward}, tallies)
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
    merged = Tally.with_windows(plan.window_count)
    for worker in sorted(tallies):
        merged.merge(tallies[worker])
    return RunOutcome(merged, stopping.at is not None)


class StopRequest:
    """While active: the first SIGINT/SIGTERM asks the workers to stop early (they then
    report what they measured), a second one raises KeyboardInterrupt. A flag rather than
    an exception, so a signal never lands half-way through reading the result queue."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, signals: RunSignals) -> None:
        self.signals = signals
        self.at: float | None = None  # time.monotonic() of the first signal
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.at is not None:
            raise KeyboardInterrupt
        self.at = time.monotonic()
        # Just ahead, so every worker hears of it before the instant itself.
        self.signals.stop_at.value = time.monotonic_ns() + int(STOP_LEAD_S * NS_PER_S)
        self.signals.stop.set()

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def _start_instant(start_at_ns: int | None) -> int:
    now = time.monotonic_ns()
    if start_at_ns is None:
        return now + int(START_MARGIN_S * NS_PER_S)
    t0_ns = monotonic_at(start_at_ns)
    if t0_ns < now + int(START_MARGIN_S * NS_PER_S):
        late_s = (now - t0_ns) / NS_PER_S
        raise StartMissed(
            f"--start-at was {late_s:.1f} s ago when the workers were ready: "
            "give a time further ahead (every shard must be started before it)"
        )
    return t0_ns


def _wait_for(
    queue: Queue[WorkerMessage],
    processes: list[SpawnProcess],
    kind: str,
    deadline: Callable[[], float],
    handlers: dict[str, Callable[[int, Any], None]],
    got: dict[int, Any],
) -> None:
    """Collect one `kind` message per worker into `got`, dispatching others to `handlers`.

    `got` is the caller's, so what arrived before a Ctrl-C is kept."""
    while len(got) < len(processes):
        if time.monotonic() > deadline():
            raise WorkerFailed(f"workers did not report '{kind}' in time")
        try:
            what, worker, payload = queue.get(timeout=0.5)
        except queue_module.Empty:
            for w, process in enumerate(processes):
                if w not in got and process.exitcode not in (None, 0):
                    raise WorkerFailed(f"worker {w} exited with code {process.exitcode}") from None
            continue
        if what == kind:
            got[worker] = payload
        elif what == "failed":
            last_line = str(payload).strip().splitlines()[-1]
            raise WorkerFailed(f"worker {worker} failed: {last_line}")
        elif what in handlers:
            handlers[what](worker, payload)


def combine_progress(snapshots: dict[int, dict[str, Any]]) -> dict[str, Any]:
    combined = {
        key: sum(s[key] for s in snapshots.values())
        for key in ("joined", "connected", "sent", "delivered", "errors", "reconnects")
    }
    p99s = [s["p99_ms"] for s in snapshots.values() if s["p99_ms"] is not None]
    combined["p99_ms"] = max(p99s) if p99s else None  # worst worker: an upper bound
    combined["lag_ms"] = max(s["lag_ms"] for s in snapshots.values())
    return combined
