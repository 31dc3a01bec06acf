"""bench.ab: the figures it reads, the table it prints, the order it runs the sides in, and
the base tree it checks out and removes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bench.ab import (
    OUT,
    REPO,
    RESTORED,
    base_tree,
    figures,
    order,
    problems,
    run_once,
    sitting_folder,
    summary,
)


def write_run(run: Path, p50: float, lost: int, clean: float, per_conn: int) -> None:
    run.mkdir(parents=True)
    (run / "B.json").write_bytes(
        orjson.dumps({"latency_ms": {"p50": p50, "p99": p50 * 2}, "messages": {"lost": lost}})
    )
    (run / "C.json").write_bytes(orjson.dumps({"highest_clean_deliveries_per_s": clean}))
    (run / "D.json").write_bytes(
        orjson.dumps(
            {
                "join": {"joined": 1000, "p50": 500.0, "p99": 1000.0},
                "relay_memory": {"bytes_per_idle_connection": per_conn},
            }
        )
    )


def test_figures_read_what_each_scenario_wrote(tmp_path: Path) -> None:
    write_run(tmp_path / "1", 2.0, 0, 320_000.0, 40_000)
    assert figures(tmp_path / "1") == {
        "B latency p50 ms": 2.0,
        "B latency p99 ms": 4.0,
        "B lost": 0,
        "C highest clean deliveries/s": 320_000.0,
        "D clients joined": 1000,
        "D join p50 ms": 500.0,
        "D join p99 ms": 1000.0,
        "D bytes per idle connection": 40_000,
    }
    (tmp_path / "2").mkdir()
    assert figures(tmp_path / "2") == {}  # a scenario not run is left out, not zero
    assert problems(tmp_path / "1") == problems(tmp_path / "2") == []


def test_a_storm_with_no_join_is_reported_not_a_key_error(tmp_path: Path) -> None:
    # What loadtest writes when no client joined: the join section has only the counts.
    run = tmp_path / "after" / "2"
    run.mkdir(parents=True)
    (run / "D.json").write_bytes(
        orjson.dumps(
            {
                "join": {"clients": 1000, "joined": 0, "count": 0, "all_joined_s": None},
                "relay_memory": {"bytes_per_idle_connection": None},
            }
        )
    )
    assert figures(run) == {"D clients joined": 0}
    (note,) = problems(run)
    assert "scenario D: no client joined" in note
    assert str(run / "log.txt") in note
    table = summary([{"D clients joined": 1000, "D join p50 ms": 500.0}], [figures(run)], [note])
    assert "| D clients joined | 1000 | 0 |" in table
    assert "D join p50 ms" not in table  # no median from one side only
    assert table.rstrip().endswith(f"- {note}")


def test_summary_gives_medians_and_their_ratio(tmp_path: Path) -> None:
    for name, p50 in (("b1", 2.0), ("b2", 9.0), ("b3", 2.2), ("a1", 2.1), ("a2", 2.4)):
        write_run(tmp_path / name, p50, 0, 100.0, 10)
    before = [figures(tmp_path / n) for n in ("b1", "b2", "b3")]
    after = [figures(tmp_path / n) for n in ("a1", "a2")]
    table = summary(before, after)
    assert table.startswith("3 runs before, 2 after")
    row = next(line for line in table.splitlines() if line.startswith("| B latency p50 ms"))
    # median 2.2 before (the outlier 9.0 does not move it), 2.25 after
    assert row == "| B latency p50 ms | 2.2 | 2.25 | 1.023 | 2, 9, 2.2 | 2.1, 2.4 |"
    lost = next(line for line in table.splitlines() if line.startswith("| B lost"))
    assert "| - |" in lost  # no ratio against a zero


def test_sides_swap_order_every_other_round() -> None:
    assert [order(n) for n in (1, 2, 3)] == [
        ("before", "after"),
        ("after", "before"),
        ("before", "after"),
    ]


def test_base_tree_checks_out_the_revision_and_removes_it() -> None:
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with base_tree("HEAD") as tree:
        checked_out = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert checked_out == head
        assert (tree / "README.md").is_file()
        assert (tree / ".venv").resolve() == (REPO / ".venv").resolve()
    assert not tree.exists()
    listed = subprocess.run(
        ["git", "-C", str(REPO), "worktree", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert str(tree) not in listed


FAKE_BENCH = """
from pathlib import Path
results = Path("bench/results")
(results / "B.json").write_text('{"new": true}')
(results / "stray.json").write_text("{}")
Path("docs/benchmarks.md").write_text("rewritten")
"""


def test_a_run_keeps_its_figures_and_puts_the_tree_back(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "bench" / "results").mkdir(parents=True)
    (tree / "docs").mkdir()
    (tree / "bench" / "results" / "B.json").write_text('{"committed": true}')
    (tree / "docs" / "benchmarks.md").write_text("committed page")
    dest = tmp_path / "out" / "before" / "1"
    run_once(tree, "B", dest, command=[sys.executable, "-c", FAKE_BENCH])
    assert orjson.loads((dest / "B.json").read_bytes()) == {"new": True}
    assert (tree / "bench" / "results" / "B.json").read_text() == '{"committed": true}'
    assert not (tree / "bench" / "results" / "stray.json").exists()
    assert (tree / "docs" / "benchmarks.md").read_text() == "committed page"
    # The figures kept so far must not sit in what each run puts back.
    assert not any(OUT.is_relative_to(REPO / name) for name in RESTORED)


def test_a_failed_run_stops_with_its_log_and_still_puts_the_tree_back(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "bench" / "results").mkdir(parents=True)
    (tree / "bench" / "results" / "B.json").write_text("{}")
    dest = tmp_path / "out"
    crash = "import pathlib; pathlib.Path('bench/results/B.json').write_text('x'); exit(3)"
    with pytest.raises(SystemExit, match="bench failed"):
        run_once(tree, "B", dest, command=[sys.executable, "-c", crash])
    assert (tree / "bench" / "results" / "B.json").read_text() == "{}"
    assert (dest / "log.txt").exists()


def test_versus_and_idle_runs_give_the_ratios_and_rss(tmp_path: Path) -> None:
    run = tmp_path / "1"
    run.mkdir()
    medians = {
        "C": {"relay": {"p99_ms": 7.0}, "socketio": {"p99_ms": 28.0}},
        "D": {"relay": {"all_joined_s": 1.0}, "socketio": {"all_joined_s": None}},
    }
    (run / "versus.json").write_bytes(orjson.dumps({"medians": medians}))
    (run / "idle.json").write_bytes(orjson.dumps({"rss_per_connection_bytes": 18_000}))
    found = figures(run)
    assert found["versus C relay / Socket.IO"] == 0.25
    assert found["versus C Socket.IO p99 ms"] == 28.0
    # a storm that did not finish joining has no median, so no ratio either
    assert not any(name.startswith("versus D") for name in found)
    assert found["idle RSS per connection bytes"] == 18_000


def test_each_sitting_gets_a_folder_of_its_own_and_earlier_ones_stay(tmp_path: Path) -> None:
    first = sitting_folder(tmp_path)
    (first / "summary.md").write_text("the first sitting")
    second = sitting_folder(tmp_path)  # within the same second, often: a suffix
    assert second != first and second.parent == first.parent == tmp_path
    assert second.is_dir() and not any(second.iterdir())
    assert (first / "summary.md").read_text() == "the first sitting"
    assert first.name[:8].isdigit() and first.name[8] == "T"
