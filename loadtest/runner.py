"""Starts the worker processes on a common clock, relays their progress, merges their tallies."""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import time
from collections.abc import Callable

from loadtest.plan import NS_PER_S, RunPlan
from loadtest.stats import Tally
from loadtest.worker import worker_main

START_MARGIN_S = 0.3  # between "everyone is ready" and t0, so every worker sees t0 ahead
READY_TIMEOUT_S = 60.0
RESULT_GRACE_S = 60.0  # beyond the planned end, for closing sockets and pickling samples

ProgressCallback = Callable[[float, dict], None]


class WorkerFailed(RuntimeError):
    pass


def run_workers(plan: RunPlan, on_progress: ProgressCallback, progress_s: float = 1.0) -> Tally:
    """Run the plan on `plan.workers` processes; return the merged tally."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    go = context.Event()
    shared_t0 = context.Value("q", 0)
    processes = [
        context.Process(
            target=worker_main,
            args=(plan, w, queue, go, shared_t0, progress_s),
            name=f"loadtest-worker-{w}",
            daemon=True,
        )
        for w in range(plan.workers)
    ]
    for process in processes:
        process.start()
    try:
        _wait_for(queue, processes, "ready", time.monotonic() + READY_TIMEOUT_S, {})
        t0_ns = time.monotonic_ns() + int(START_MARGIN_S * NS_PER_S)
        shared_t0.value = t0_ns
        go.set()
        progress: dict[int, dict] = {}

        def forward(worker: int, snapshot: dict) -> None:
            progress[worker] = snapshot
            on_progress((time.monotonic_ns() - t0_ns) / NS_PER_S, combine_progress(progress))

        deadline = time.monotonic() + START_MARGIN_S + plan.stop_ns / NS_PER_S + RESULT_GRACE_S
        tallies = _wait_for(queue, processes, "result", deadline, {"progress": forward})
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
    merged = Tally.with_windows(plan.window_count)
    for worker in sorted(tallies):
        merged.merge(tallies[worker])
    return merged


def _wait_for(
    queue: multiprocessing.Queue,
    processes: list,
    kind: str,
    deadline: float,
    handlers: dict[str, Callable[[int, object], None]],
) -> dict:
    """Collect one `kind` message per worker, dispatching others to `handlers`."""
    got: dict[int, object] = {}
    while len(got) < len(processes):
        if time.monotonic() > deadline:
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
    return got


def combine_progress(snapshots: dict[int, dict]) -> dict:
    combined = {
        key: sum(s[key] for s in snapshots.values())
        for key in ("joined", "connected", "sent", "delivered", "errors", "reconnects")
    }
    p99s = [s["p99_ms"] for s in snapshots.values() if s["p99_ms"] is not None]
    combined["p99_ms"] = max(p99s) if p99s else None  # worst worker: an upper bound
    combined["lag_ms"] = max(s["lag_ms"] for s in snapshots.values())
    return combined
