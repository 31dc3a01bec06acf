from __future__ import annotations

import random
from array import array

import pytest

from loadtest.stats import Tally, percentile, summarize_us


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 99.9) == 100
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


def test_summary_converts_microseconds_to_milliseconds() -> None:
    summary = summarize_us([1000, 2000, 3000, 4000])
    assert summary == {
        "count": 4,
        "p50": 2.0,
        "p90": 4.0,
        "p99": 4.0,
        "p999": 4.0,
        "max": 4.0,
        "mean": 2.5,
    }
    assert summarize_us([]) == {"count": 0}


def test_merging_workers_gives_the_same_percentiles_as_one_process() -> None:
    rng = random.Random(7)
    samples = [int(rng.lognormvariate(7, 1)) for _ in range(5000)]
    windows = 4
    whole = Tally.with_windows(windows)
    parts = [Tally.with_windows(windows) for _ in range(3)]
    for i, value in enumerate(samples):
        whole.latency_windows[i % windows].append(value)
        parts[i % 3].latency_windows[i % windows].append(value)
    merged = Tally.with_windows(windows)
    for part in parts:
        merged.merge(part)
    assert summarize_us(merged.latency_samples()) == summarize_us(whole.latency_samples())
    for mine, theirs in zip(merged.latency_windows, whole.latency_windows, strict=True):
        assert sorted(mine) == sorted(theirs)


def test_merge_adds_counts_and_keeps_the_latest_join() -> None:
    first, second = Tally(), Tally()
    first.sent_by_room[0] += 3
    first.members_by_room[0] += 2
    first.delivered = 5
    first.close_codes[1012] += 1
    first.last_join_done_ns = 10
    first.join_us = array("q", [1, 2])
    second.sent_by_room[0] += 1
    second.sent_by_room[1] += 4
    second.members_by_room[0] += 1
    second.members_by_room[1] += 5
    second.delivered = 20
    second.duplicated = 2
    second.close_codes[1012] += 2
    second.last_join_done_ns = 7
    second.join_us = array("q", [3])
    first.merge(second)
    assert first.sent == 8
    assert first.expected == 4 * 3 + 4 * 5  # room 0: 4 msgs x 3 members; room 1: 4 x 5
    assert first.delivered == 25
    assert first.lost == 32 - 25
    assert first.duplicated == 2
    assert first.close_codes[1012] == 3
    assert first.last_join_done_ns == 10
    assert list(first.join_us) == [1, 2, 3]


def test_loss_never_goes_negative() -> None:
    tally = Tally()
    tally.sent_by_room[0] = 1
    tally.members_by_room[0] = 2
    tally.delivered = 3  # a send that failed locally yet reached the server
    assert tally.lost == 0
