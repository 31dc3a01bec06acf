"""The E-shards benchmark's sampling and rendering, on made-up figures (no processes)."""

from __future__ import annotations

import os

import pytest

from bench.__main__ import main
from bench.markdown import render, shards_tables
from bench.shards import E_SHARDS, ShardProbe, Snapshot, summarise, window

ENVIRONMENT = {
    "date": "2026-01-01T00:00:00+00:00",
    "cpu": "test CPU",
    "cores": 2,
    "memory_gib": 1.0,
    "kernel": "6.0",
    "python": "3.11",
    "redis_server": "7.0.15",
    "packages": {"redis": "8.1.0"},
    "commit": "abc1234",
    "load_average_at_start": [0.1, 0.2, 0.3],
}


def report(redis: dict) -> dict:
    """Just the loadtest report fields the page renders."""
    percentiles = {"p50": 1.0, "p90": 1.5, "p99": 2.5, "p999": 9.0, "max": 12.0}
    return {
        "plan": {
            "clients": 1000,
            "rooms": 100,
            "senders": 100,
            "rate": 2.0,
            "workers": 2,
            "duration": 30.0,
            "offered_deliveries_per_s": 2000.0,
        },
        "throughput": {"deliveries_per_s": 2000.0},
        "latency_ms": percentiles,
        "ack_latency_ms": percentiles,
        "messages": {
            "expected": 60000,
            "delivered": 60000,
            "lost": 0,
            "duplicated": 0,
            "out_of_order": 0,
        },
        "join": {"joined": 1000, "clients": 1000, **percentiles, "all_joined_s": 2.0},
        "errors": {"total": 0},
        "connections": {"reconnects": 0},
        "generator": {
            "cpu_per_worker": [0.05, 0.04],
            "loop_lag_ms": {"p99": 1.0},
            "saturated": False,
        },
        "redis": redis,
    }


def snapshots(shards: dict[str, tuple[float, float, int, int]]) -> tuple[Snapshot, Snapshot]:
    """label -> (cpu before, cpu after, commands before, commands after), 10 s apart."""
    relays = {"relay 1": (5.0, 7.0), "relay 2": (5.0, 6.0)}
    before = Snapshot(
        100.0,
        {**{k: v[0] for k, v in shards.items()}, **{k: v[0] for k, v in relays.items()}},
        {k: v[2] for k, v in shards.items()},
    )
    after = Snapshot(
        110.0,
        {**{k: v[1] for k, v in shards.items()}, **{k: v[1] for k, v in relays.items()}},
        {k: v[3] for k, v in shards.items()},
    )
    return before, after


def test_summarise_gives_each_shard_its_cpu_share_commands_and_rooms():
    shards = {
        "127.0.0.1:1": (1.0, 1.4, 100, 8100),
        "127.0.0.1:2": (2.0, 2.3, 0, 6000),
        "127.0.0.1:3": (0.0, 0.3, 0, 6000),
    }
    before, after = snapshots(shards)
    keys = {"127.0.0.1:1": {"keys": 120, "rooms": 36}, "127.0.0.1:2": {"keys": 100, "rooms": 31}}
    summary = summarise(
        "measured window", before, after, list(shards), ["relay 1", "relay 2"], keys
    )

    assert summary["window_s"] == 10.0
    assert [s["cpu_core_share"] for s in summary["shards"]] == [0.04, 0.03, 0.03]
    assert [s["commands_per_s"] for s in summary["shards"]] == [800.0, 600.0, 600.0]
    assert [s["rooms"] for s in summary["shards"]] == [36, 31, 0]  # missing node: nothing held
    assert summary["cpu_s_total"] == 1.0
    assert summary["cpu_core_share_total"] == 0.1
    assert summary["commands_per_s_total"] == 2000.0
    assert summary["relay_cpu_core_share"] == [0.2, 0.1]


def test_window_prefers_the_measured_phase_and_falls_back_to_the_whole_run():
    a, b = snapshots({"n": (0.0, 1.0, 0, 1)})
    c, d = snapshots({"n": (0.2, 0.8, 0, 1)})
    assert window({"start": a, "end": b, "measure": c, "drain": d}) == ("measured window", c, d)
    kind, first, last = window({"start": a, "end": b, "measure": c})
    assert kind.startswith("whole run") and (first, last) == (a, b)


def test_progress_lines_mark_the_measured_window_once(monkeypatch):
    probe = ShardProbe(shards={}, relays={"me": os.getpid()})
    taken: list[str] = []

    def fake_snapshot() -> Snapshot:
        taken.append("x")
        return Snapshot(float(len(taken)), {}, {})

    monkeypatch.setattr(probe, "snapshot", fake_snapshot)
    for line in [
        "[   1.0s ramp-up] joined 10/1000  connected 10",
        "[   2.0s  drain] joined 1000/1000",  # a drain before any measure is ignored
        "[   3.0s warm-up] joined 1000/1000",
        "[   8.0s measure] joined 1000/1000",
        "[   8.5s measure] joined 1000/1000",
        "[  38.0s   drain] joined 1000/1000",
        "[  38.5s   drain] joined 1000/1000",
        "loadtest: something else",
    ]:
        probe.on_progress(line)
    probe.close()
    assert sorted(probe.marks) == ["drain", "measure"]
    assert (probe.marks["measure"].at, probe.marks["drain"].at) == (1.0, 2.0)


def test_progress_sampling_failure_is_recorded_not_raised(monkeypatch):
    import psutil

    probe = ShardProbe(shards={}, relays={})

    def gone() -> Snapshot:
        raise psutil.NoSuchProcess(1)

    monkeypatch.setattr(probe, "snapshot", gone)
    probe.on_progress("[   8.0s measure] joined 1000/1000")
    assert probe.problems and "measure" in probe.problems[0]


def e_shards() -> dict:
    runs = []
    for count, cpu in ((1, [(0.0, 3.0, 0, 30000)]), (3, [(0.0, 1.2, 0, 10000)] * 3)):
        shards = {f"127.0.0.1:{7000 + i}": figures for i, figures in enumerate(cpu)}
        before, after = snapshots(shards)
        keys = {label: {"keys": 300 // count, "rooms": 100 // count} for label in shards}
        redis = summarise(
            "measured window", before, after, list(shards), ["relay 1", "relay 2"], keys
        )
        redis.update(
            shards_count=count, mode="standalone" if count == 1 else "cluster", problems=[]
        )
        runs.append(report(redis))
    return {"environment": ENVIRONMENT, "runs": runs}


def test_page_shows_both_runs_and_one_row_per_shard():
    lines = shards_tables(e_shards())
    text = "\n".join(lines)
    assert "| figure | 1 shard | 3 shards |" in text
    assert "| Redis CPU, all shards (share of one core) | 30.0% | 36.0% |" in text
    assert "| Redis CPU, busiest shard | 30.0% | 12.0% |" in text
    shard_rows = [line for line in lines if line.startswith("| 3 shards | ")]
    assert len(shard_rows) == 3
    assert all("| 12.0% | 33.3% | 1,000 | 33 | 100 |" in row for row in shard_rows)


def test_render_adds_the_section_and_the_columns_to_every_figure():
    page = render(ENVIRONMENT, {E_SHARDS: e_shards()}, quick=False)
    assert "### E on 1 shard vs 3 shards" in page
    assert "| figure | E-shards: 1 shard | E-shards: 3 shards |" in page
    assert page.rstrip().endswith("<!-- bench:end -->")


def test_only_rejects_unknown_scenarios_before_starting_anything(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--only", "E,nope"])
    assert exit_info.value.code == 2
    assert "unknown scenario(s): nope" in capsys.readouterr().err
