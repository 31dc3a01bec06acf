"""Exact measurements: integer-microsecond samples and counters that merge across workers.

Samples are kept whole (not bucketed), so merging K workers and then taking percentiles
gives the same figures as one process that saw everything.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_samples() -> array[int]:
    return array("q")


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of already sorted values: the smallest value with at least q%
    of the samples at or below it."""
    if not sorted_values:
        raise ValueError("percentile of no samples")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize_us(
    samples: Iterable[int], quantiles: Iterable[float] = PERCENTILES
) -> dict[str, Any]:
    """count, p50..p99.9, max and mean of microsecond samples, in milliseconds."""
    values = sorted(samples)
    summary: dict[str, Any] = {"count": len(values)}
    if not values:
        return summary
    for q in quantiles:
        summary[f"p{q:g}".replace(".", "")] = percentile(values, q) / 1000
    summary["max"] = values[-1] / 1000
    summary["mean"] = round(sum(values) / len(values) / 1000, 3)
    return summary


@dataclass
class Tally:
    """Everything one worker measured. `merge` is exact: sums, maxima and concatenation."""

    # connect + join of each client's first session, and when the last one finished
    join_us: array[int] = field(default_factory=new_samples)
    join_failures: int = 0
    last_join_done_ns: int = 0  # offset from t0
    # offset from t0 where measurement ended: the plan's end, or earlier after a Ctrl-C
    measured_until_ns: int = 0
    # fan-out latency per (message, recipient), one array per time window of the measurement
    latency_windows: list[array[int]] = field(default_factory=list)
    ack_us: array[int] = field(default_factory=new_samples)
    send_lateness_us: array[int] = field(default_factory=new_samples)
    # message accounting; rooms are keyed by index
    sent_by_room: Counter[int] = field(default_factory=Counter)
    members_by_room: Counter[int] = field(default_factory=Counter)
    delivered: int = 0
    recovered: int = 0  # delivered through message_history after a reconnect
    duplicated: int = 0
    out_of_order: int = 0
    misrouted: int = 0
    acks: int = 0
    send_failures: int = 0
    late_joiners: int = 0  # joined after measurement began: not counted as recipients
    # connections
    reconnects: int = 0
    churn_drops: int = 0
    identity_changes: int = 0  # rejoined with our token but came back as someone else
    history_incomplete: int = 0
    resyncs: int = 0  # the relay signalled a gap it could not fill (after a Redis loss)
    close_codes: Counter[int] = field(default_factory=Counter)
    connect_errors: Counter[str] = field(default_factory=Counter)
    error_frames: Counter[str] = field(default_factory=Counter)
    # the generator itself
    loop_lag_us: array[int] = field(default_factory=new_samples)
    cpu_seconds: list[float] = field(default_factory=list)  # one entry per worker
    wall_seconds: list[float] = field(default_factory=list)

    @classmethod
    def with_windows(cls, count: int) -> Tally:
        return cls(latency_windows=[new_samples() for _ in range(count)])

    def merge(self, other: Tally) -> None:
        self.join_us.extend(other.join_us)
        self.join_failures += other.join_failures
        self.last_join_done_ns = max(self.last_join_done_ns, other.last_join_done_ns)
        self.measured_until_ns = max(self.measured_until_ns, other.measured_until_ns)
        while len(self.latency_windows) < len(other.latency_windows):
            self.latency_windows.append(new_samples())
        for mine, theirs in zip(self.latency_windows, other.latency_windows, strict=False):
            mine.extend(theirs)
        for name in ("ack_us", "send_lateness_us", "loop_lag_us"):
            getattr(self, name).extend(getattr(other, name))
        for name in (
            "delivered",
            "recovered",
            "duplicated",
            "out_of_order",
            "misrouted",
            "acks",
            "send_failures",
            "late_joiners",
            "reconnects",
            "churn_drops",
            "identity_changes",
            "history_incomplete",
            "resyncs",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in (
            "sent_by_room",
            "members_by_room",
            "close_codes",
            "connect_errors",
            "error_frames",
        ):
            getattr(self, name).update(getattr(other, name))
        self.cpu_seconds.extend(other.cpu_seconds)
        self.wall_seconds.extend(other.wall_seconds)

    # --- derived figures ------------------------------------------------------------------

    @property
    def sent(self) -> int:
        return sum(self.sent_by_room.values())

    @property
    def expected(self) -> int:
        """Every measured message should reach every member of its room, sender included."""
        return sum(n * self.members_by_room[room] for room, n in self.sent_by_room.items())

    @property
    def lost(self) -> int:
        # Deliveries are de-duplicated per (recipient, message) and checked against the
        # recipient's room, so they never exceed what was expected; clamp for the one case
        # that can (a send that failed locally yet reached the server).
        return max(0, self.expected - self.delivered)

    def latency_samples(self) -> Iterable[int]:
        for window in self.latency_windows:
            yield from window
