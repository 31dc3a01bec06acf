"""`loadtest merge` on synthetic shards: the merged report is the report of the whole run.

The shards' tallies are built the way a run builds them, from one synthetic run that is
cut by the plan's own client -> shard mapping; the whole run's tally is the reference.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from loadtest.merge import MergeError, merge_shards, read_shard
from loadtest.merge_command import merge_main
from loadtest.plan import Gates, RunPlan
from loadtest.report import build_report
from loadtest.shardfile import shard_section
from loadtest.stats import Tally

STARTED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SHARDS = 3
PLAN = RunPlan(
    urls=("ws://a/ws", "ws://b/ws"),
    clients=60,
    rooms=4,
    senders=8,
    rate=5,
    duration=4,
    shard_count=SHARDS,
    run_id="abc123",
    gates=Gates(max_loss=0),
)


def synthetic_run(seed: int = 1) -> tuple[Tally, list[Tally]]:
    """The whole run's tally, and each shard's share of it (by the plan's mapping).

    Every measured message of every sender reaches every member of its room, except a few
    lost and a few duplicated; latencies are lognormal, with a slow tail on one shard, so
    that an average of the shards' percentiles would be visibly wrong.
    """
    rng = random.Random(seed)
    whole = Tally.with_windows(PLAN.window_count)
    parts = [Tally.with_windows(PLAN.window_count) for _ in range(SHARDS)]
    for client in range(PLAN.clients):
        shard = PLAN.shard_of(client)
        join_us = rng.randint(500, 90_000)
        for tally in (whole, parts[shard]):
            tally.members_by_room[PLAN.room_of(client)] += 1
            tally.join_us.append(join_us)
            tally.last_join_done_ns = max(tally.last_join_done_ns, join_us * 1000)
    sends = int(PLAN.rate * PLAN.duration)
    for sender in PLAN.sender_ranks():
        room = PLAN.room_of(sender)
        for tally in (whole, parts[PLAN.shard_of(sender)]):
            tally.sent_by_room[room] += sends
        for seq in range(sends):
            window = seq * PLAN.window_count // sends
            for recipient in PLAN.room_members(room):
                shard = PLAN.shard_of(recipient)
                if rng.random() < 0.01:
                    continue  # lost
                slow = 20 if shard == 2 else 1
                latency_us = int(rng.lognormvariate(7, 0.6) * slow)
                copies = 2 if rng.random() < 0.005 else 1
                for tally in (whole, parts[shard]):
                    tally.delivered += 1
                    tally.duplicated += copies - 1
                    tally.latency_windows[window].append(latency_us)
    for shard, part in enumerate(parts):
        part.cpu_seconds.append(0.2 + shard / 10)
        part.wall_seconds.append(10.0)
        part.error_frames["rate_limited"] += shard
        whole.error_frames["rate_limited"] += shard
        whole.cpu_seconds.append(0.2 + shard / 10)
        whole.wall_seconds.append(10.0)
    return whole, parts


def write_shards(tmp_path: Path, parts: list[Tally], plan: RunPlan = PLAN) -> list[Path]:
    paths = []
    for index, part in enumerate(parts):
        shard_plan = dataclasses.replace(plan, shard_index=index)
        report = build_report(shard_plan, part, STARTED)
        report["shard"] = shard_section(shard_plan, part)
        path = tmp_path / f"out-{index + 1}.json"
        path.write_bytes(orjson.dumps(report))
        paths.append(path)
    return paths


def test_the_merged_report_is_the_whole_runs_report(tmp_path: Path) -> None:
    whole, parts = synthetic_run()
    paths = write_shards(tmp_path, parts)
    merged = merge_shards([read_shard(p) for p in reversed(paths)])  # any order
    reference = build_report(dataclasses.replace(PLAN, shard_index=0), whole, STARTED, merged=True)
    for section in ("latency_ms", "join", "messages", "timeline", "errors", "throughput"):
        assert merged[section] == reference[section], section
    assert merged["generator"]["cpu_per_worker"] == [0.02, 0.03, 0.04]
    assert merged["merged_from"] == SHARDS
    assert [s["index"] for s in merged["shards"]] == [1, 2, 3]
    messages = merged["messages"]
    # Sent by senders on one shard, received on all three: each side counted once.
    assert messages["expected"] == sum(
        int(PLAN.rate * PLAN.duration) * len(PLAN.room_members(PLAN.room_of(s)))
        for s in PLAN.sender_ranks()
    )
    assert 0 < messages["lost"] < messages["expected"] // 50
    assert messages["duplicated"] > 0


def test_merged_percentiles_are_of_the_union_not_averages(tmp_path: Path) -> None:
    whole, parts = synthetic_run(seed=2)
    merged = merge_shards([read_shard(p) for p in write_shards(tmp_path, parts)])
    union = sorted(whole.latency_samples())
    rank = -(-99 * len(union) // 100)  # nearest rank
    assert merged["latency_ms"]["p99"] == union[rank - 1] / 1000
    shard_p99s = [
        build_report(dataclasses.replace(PLAN, shard_index=i), part, STARTED)["latency_ms"]["p99"]
        for i, part in enumerate(parts)
    ]
    # The slow shard pulls the union's p99 to its own tail; an average would not.
    assert abs(statistics.mean(shard_p99s) - merged["latency_ms"]["p99"]) > 1.0


def test_merge_applies_the_gates_to_the_merged_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, parts = synthetic_run()
    paths = [str(p) for p in write_shards(tmp_path, parts)]
    out = tmp_path / "merged.json"
    assert merge_main([*paths, f"--json={out}"]) == 1  # the shards' --max-loss 0: some lost
    summary = capsys.readouterr().out
    assert "gate FAIL max-loss" in summary
    assert "errors    rate_limited 3" in summary  # counts, not a Python dict
    assert "None" not in summary and "{" not in summary
    assert orjson.loads(out.read_bytes())["passed"] is False
    plot = tmp_path / "merged.png"
    assert (
        merge_main(
            [
                *paths,
                "--max-loss=0.02",
                "--min-delivered=100",
                f"--plot={plot}",
                "--max-p99-ms=5",
                "--min-deliveries-per-s=1",
            ]
        )
        == 1
    )  # p99 over 5 ms
    assert plot.read_bytes().startswith(b"\x89PNG")  # drawn with the limit lines
    assert merge_main([*paths, "--max-loss=0.02", "--min-delivered=100"]) == 0


def test_files_that_are_not_one_whole_run_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, parts = synthetic_run()
    paths = write_shards(tmp_path, parts)
    shards = [read_shard(p) for p in paths]
    with pytest.raises(MergeError, match=r"shard\(s\) 3 missing"):
        merge_shards(shards[:2])
    with pytest.raises(MergeError, match="are both shard 2/3"):
        merge_shards([*shards, shards[1]])
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = write_shards(other_dir, parts, dataclasses.replace(PLAN, run_id="zzz999"))
    with pytest.raises(MergeError, match="merge the shards of one run"):
        merge_shards([*shards[:2], read_shard(other[2])])
    bigger = write_shards(other_dir, parts, dataclasses.replace(PLAN, clients=61))
    with pytest.raises(MergeError, match=r"differs from .* in clients"):
        merge_shards([*shards[:2], read_shard(bigger[2])])
    plain = tmp_path / "plain.json"
    plain.write_bytes(orjson.dumps({"run_id": "x"}))
    assert merge_main([str(plain)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"python -m loadtest merge: {plain}: not a shard report; "
        "write one with --shard K/N --json FILE\n"
    )
