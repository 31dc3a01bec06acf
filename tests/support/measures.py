"""Percentiles and process memory for the figures fault tests print (`figures.report`)."""

from __future__ import annotations

import math
from typing import Any

import psutil

from harness.relay import RelayProcess


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def rounded(value: Any, digits: int = 3) -> Any:
    """Floats rounded, recursively, so printed and stored figures stay readable."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def rss_mib(relay: RelayProcess) -> float:
    """Resident memory of a running relay process, MiB."""
    assert relay.process is not None
    return psutil.Process(relay.process.pid).memory_info().rss / 2**20
