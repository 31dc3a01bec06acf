from __future__ import annotations

import dataclasses
import random
from array import array

import orjson
import pytest

from loadtest.plan import Gates, RunPlan
from loadtest.shardfile import (
    ShardFileError,
    decode_plan,
    decode_tally,
    encode_plan,
    encode_tally,
    histogram,
    samples_of,
)
from loadtest.stats import Tally


def test_a_tally_survives_json_exactly() -> None:
    rng = random.Random(3)
    tally = Tally.with_windows(3)
    for window in tally.latency_windows:
        window.extend(int(rng.expovariate(1 / 800)) for _ in range(500))
    tally.join_us = array("q", [5, 5, 9])
    tally.sent_by_room.update({0: 4, 2: 7})
    tally.members_by_room.update({0: 3, 2: 5})
    tally.close_codes[1012] = 2
    tally.connect_errors["http_403"] = 1
    tally.error_frames["rate_limited"] = 9
    tally.delivered, tally.duplicated, tally.measured_until_ns = 40, 1, 12_000_000_000
    tally.cpu_seconds, tally.wall_seconds = [1.5], [10.0]
    back = decode_tally(orjson.loads(orjson.dumps(encode_tally(tally))))
    assert back.sent_by_room == tally.sent_by_room and back.expected == tally.expected
    assert back.close_codes == {1012: 2} and back.error_frames == {"rate_limited": 9}
    assert [sorted(w) for w in back.latency_windows] == [sorted(w) for w in tally.latency_windows]
    for name in ("join_us", "ack_us", "loop_lag_us"):
        assert sorted(getattr(back, name)) == sorted(getattr(tally, name))
    assert dataclasses.asdict(back) | {"latency_windows": None, "join_us": None} == (
        dataclasses.asdict(tally) | {"latency_windows": None, "join_us": None}
    )


def test_samples_are_stored_as_a_histogram() -> None:
    assert histogram([7, 3, 7, 7, 12]) == {"deltas": [3, 4, 5], "counts": [1, 3, 1]}
    assert list(samples_of({"deltas": [3, 4, 5], "counts": [1, 3, 1]})) == [3, 7, 7, 7, 12]
    assert histogram([]) == {"deltas": [], "counts": []} and not samples_of(histogram([]))
    with pytest.raises(ShardFileError, match="do not match"):
        samples_of({"deltas": [3, 4], "counts": [1]})
    with pytest.raises(ShardFileError, match="do not match"):
        samples_of({"deltas": [3, 0], "counts": [1, 1]})  # values must increase


def test_a_plan_survives_json() -> None:
    plan = RunPlan(
        urls=("ws://a/ws",),
        clients=9,
        shard_count=3,
        shard_index=2,
        gates=Gates(max_loss=0, min_delivered=5),
    )
    assert decode_plan(orjson.loads(orjson.dumps(encode_plan(plan)))) == plan
    with pytest.raises(ShardFileError, match="another version"):
        decode_plan({**encode_plan(plan), "shiny_new_field": 1})
