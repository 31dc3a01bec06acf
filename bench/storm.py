"""Scenario D, the join storm: 1000 clients connect at once to one room and nobody sends;
the servers' RSS is sampled from before the storm until the hold ends.

`make bench`'s D (bench/scenarios.py: the relays, memory while the connections are held)
and `versus`' D (bench/versus.py: every contender, what the storm leaves behind) run this
one storm and read their figures from the same record.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.runs import JOINED, run_loadtest

STORM_CLIENTS = 1000
SAMPLE_EVERY_S = 0.2


@dataclass(frozen=True)
class Storm:
    """One storm's loadtest report and the servers' RSS around it."""

    report: dict[str, Any]
    rss_before: int
    samples: list[tuple[float, int]]  # (time.monotonic(), RSS bytes of every server)
    all_joined_at: float | None  # when the tool's progress line first said all joined

    @property
    def joined(self) -> int:
        joined: int = self.report["join"]["joined"]
        return joined

    def peak_rss(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    def steady_samples(self) -> list[int]:
        """From a second after everyone joined until a second before the hold ends."""
        if self.all_joined_at is None or not self.samples:
            return []
        first, last = self.all_joined_at + 1.0, self.samples[-1][0] - 1.0
        return [rss for t, rss in self.samples if first <= t <= last]

    def steady_rss(self) -> int:
        """Median RSS while the connections are held; the peak if they never all joined."""
        steady = self.steady_samples()
        return int(statistics.median(steady)) if steady else self.peak_rss()

    def tail_rss(self, seconds: float = 2.0) -> int:
        """Median RSS over the storm's last `seconds`: what it leaves behind."""
        if not self.samples:
            return self.rss_before
        last = self.samples[-1][0]
        return int(statistics.median(rss for t, rss in self.samples if t >= last - seconds))


def join_storm(
    urls: list[str],
    rss: Callable[[], int],
    *,
    hold: str,
    name: str,
    results: Path,
    protocol: str = "v1",
    join_timeout: str | None = None,
    clients: int = STORM_CLIENTS,
) -> Storm:
    """Run the storm against `urls` for `hold` (a loadtest duration), sampling `rss()`."""
    before = rss()
    all_joined_at: list[float] = []
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def watch_joins(line: str) -> None:
        match = JOINED.search(line)
        if match and int(match.group(1)) == clients and not all_joined_at:
            all_joined_at.append(time.monotonic())

    def sample_rss() -> None:
        while not stop.wait(SAMPLE_EVERY_S):
            samples.append((time.monotonic(), rss()))

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    args = [
        f"--protocol={protocol}",
        f"--clients={clients}",
        "--senders=0",
        "--ramp-up=0",
        "--warm-up=0",
        "--drain=0",
        f"--duration={hold}",
        "--workers=2",
    ]
    if join_timeout is not None:
        args.append(f"--join-timeout={join_timeout}")  # a slow join is waited for, not retried
    try:
        report = run_loadtest(urls, args, name, results, on_progress=watch_joins)
    finally:
        stop.set()
        sampler.join(timeout=5)
    return Storm(report, before, samples, all_joined_at[0] if all_joined_at else None)
