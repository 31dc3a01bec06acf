"""`python -m bench.ab --base REV [--after REV] [--rounds 3] [--only B,C,D] [--quick]`: the
benchmark scenarios before and after a change, back to back on one machine.

A refactor must keep the figures (README, "Benchmarks"), and this machine's speed drifts from
one hour to the next, so the two sides are measured in one sitting, interleaved: REV is
checked out in a temporary git worktree beside the repository (sharing this tree's .venv),
then `python -m bench --only ...` runs in the base and in this tree alternately, ROUNDS
times, the order swapped every other round so neither side always runs second. Each
sitting keeps its own folder, test-artifacts/bench-ab/<UTC start time>/ (an earlier
sitting's runs stay): each run's JSON in <side>/<round>/, and the medians of both sides
with their ratio, printed as a markdown table, in summary.md. The committed bench/results
and docs/benchmarks.md of both trees are put back after every run.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
# Outside bench/results, which every run rewrites and this tool puts back; one folder per
# sitting below it.
OUT = REPO / "test-artifacts" / "bench-ab"
SIDES = ("before", "after")
# What a bench run rewrites in its tree; restored after each run.
RESTORED = ("bench/results", "docs/benchmarks.md")


def figures(run: Path) -> dict[str, float]:
    """The figures a refactor must keep, from one run's B.json, C.json and D.json."""
    found: dict[str, float] = {}
    if (path := run / "B.json").exists():
        b = orjson.loads(path.read_bytes())
        found["B latency p50 ms"] = b["latency_ms"]["p50"]
        found["B latency p99 ms"] = b["latency_ms"]["p99"]
        found["B lost"] = b["messages"]["lost"]
    if (path := run / "C.json").exists():
        c = orjson.loads(path.read_bytes())
        found["C highest clean deliveries/s"] = c["highest_clean_deliveries_per_s"]
    if (path := run / "D.json").exists():
        d = orjson.loads(path.read_bytes())
        found["D clients joined"] = d["join"]["joined"]
        if d["join"]["joined"]:  # with no join there is no join time or memory per connection
            found["D join p50 ms"] = d["join"]["p50"]
            found["D join p99 ms"] = d["join"]["p99"]
            found["D bytes per idle connection"] = d["relay_memory"]["bytes_per_idle_connection"]
    if (path := run / "idle.json").exists():
        idle = orjson.loads(path.read_bytes())
        if idle.get("rss_per_connection_bytes") is not None:
            found["idle RSS per connection bytes"] = idle["rss_per_connection_bytes"]
    if (path := run / "versus.json").exists():
        found |= versus_figures(orjson.loads(path.read_bytes()))
    return found


def versus_figures(versus: dict[str, Any]) -> dict[str, float]:
    """C p99 and D join time of the relay and Socket.IO 4 + redis-adapter, and their ratio
    (measured in one run, contenders interleaved): what the issue's <= 0.5x targets read."""
    found: dict[str, float] = {}
    medians = versus["medians"]
    for scenario, figure, label in (("C", "p99_ms", "p99 ms"), ("D", "all_joined_s", "joined s")):
        relay = medians.get(scenario, {}).get("relay", {}).get(figure)
        socketio = medians.get(scenario, {}).get("socketio", {}).get(figure)
        if relay is not None and socketio is not None:
            found[f"versus {scenario} relay {label}"] = relay
            found[f"versus {scenario} Socket.IO {label}"] = socketio
            found[f"versus {scenario} relay / Socket.IO"] = round(relay / socketio, 3)
    return found


def problems(run: Path) -> list[str]:
    """Why a run lacks figures the others have, each naming the run's log."""
    path = run / "D.json"
    if path.exists() and not orjson.loads(path.read_bytes())["join"]["joined"]:
        return [
            f"{run}: scenario D: no client joined, so it has no join time or memory per "
            f"connection (the relays refused or never answered: see {run / 'log.txt'})"
        ]
    return []


def summary(
    before: list[dict[str, float]], after: list[dict[str, float]], notes: list[str] | None = None
) -> str:
    """Medians of each figure on both sides, their ratio (after / before) and every run;
    `notes` (runs that lack figures, see `problems`) follow the table."""
    lines = [
        f"{len(before)} runs before, {len(after)} after (medians; ratio = after / before)",
        "",
        "| figure | before | after | ratio | runs before | runs after |",
        "|---|---:|---:|---:|---|---|",
    ]
    names = dict.fromkeys(name for run in before + after for name in run)
    for name in names:
        old = [run[name] for run in before if name in run]
        new = [run[name] for run in after if name in run]
        if not old or not new:
            continue
        median_old, median_new = statistics.median(old), statistics.median(new)
        ratio = f"{median_new / median_old:.3f}" if median_old else "-"
        lines.append(
            f"| {name} | {median_old:g} | {median_new:g} | {ratio} | "
            f"{', '.join(f'{v:g}' for v in old)} | {', '.join(f'{v:g}' for v in new)} |"
        )
    if notes:
        lines += ["", "Left out of the medians:", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def order(round_number: int) -> tuple[str, str]:
    """before/after in odd rounds, after/before in even ones."""
    return SIDES if round_number % 2 else (SIDES[1], SIDES[0])


@contextlib.contextmanager
def base_tree(revision: str) -> Iterator[Path]:
    """REV checked out in a temporary worktree that shares this tree's .venv."""
    parent = Path(tempfile.mkdtemp(prefix="chat-relay-ab-"))
    tree = parent / "base"
    git = ["git", "-C", str(REPO)]
    subprocess.run([*git, "worktree", "add", "--detach", str(tree), revision], check=True)
    try:
        (tree / ".venv").symlink_to(REPO / ".venv")
        if (REPO / "node_modules").is_dir():  # the peers of `versus`
            (tree / "node_modules").symlink_to(REPO / "node_modules")
        yield tree
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)
        shutil.rmtree(parent, ignore_errors=True)


def run_once(tree: Path, only: str, dest: Path, command: list[str] | None = None) -> None:
    """One `python -m bench --only ONLY` (or `command`) in `tree`; the JSON of the scenarios
    goes to `dest`, and the tree's bench/results and docs/benchmarks.md are put back."""
    kept = Path(tempfile.mkdtemp(prefix="chat-relay-ab-keep-"))
    try:
        for name in RESTORED:
            source = tree / name
            if source.is_dir():
                shutil.copytree(source, kept / name)
            elif source.exists():
                (kept / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, kept / name)
        dest.mkdir(parents=True, exist_ok=True)
        with (dest / "log.txt").open("wb") as log:
            done = subprocess.run(
                command or [sys.executable, "-m", "bench", "--only", only],
                cwd=tree,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if done.returncode != 0:
            raise SystemExit(f"bench failed in {tree} (see {dest / 'log.txt'})")
        for scenario in only.split(","):
            # A..E are upper case, versus and idle lower case.
            for name in {scenario.strip().upper(), scenario.strip().lower()}:
                if (produced := tree / "bench" / "results" / f"{name}.json").exists():
                    shutil.copy2(produced, dest)
    finally:
        for name in RESTORED:
            saved, target = kept / name, tree / name
            if saved.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(saved, target)
            elif saved.exists():
                shutil.copy2(saved, target)
        shutil.rmtree(kept, ignore_errors=True)


def sitting_folder(parent: Path) -> Path:
    """A new folder below ``parent`` named by the UTC time (a second sitting in the same
    second gets a suffix); earlier sittings are left alone."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for suffix in ("", *(f"-{n}" for n in range(2, 100))):
        folder = parent / f"{stamp}{suffix}"
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        return folder
    raise SystemExit(f"python -m bench.ab: no free folder for {stamp} in {parent}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument(
        "--after",
        help="git revision for the after side, also in a temporary worktree (default: this "
        "tree, whose bench/results and docs/benchmarks.md are rewritten and put back)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument("--only", default="B,C,D", help="scenarios (default B,C,D)")
    parser.add_argument("--quick", action="store_true", help="`python -m bench --quick`")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    out = sitting_folder(OUT)
    print(f"python -m bench.ab: this sitting's runs go to {out}", flush=True)
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(base_tree(args.base))
        after = stack.enter_context(base_tree(args.after)) if args.after else REPO
        trees = {"before": base, "after": after}
        for round_number in range(1, args.rounds + 1):
            for side in order(round_number):
                print(f"round {round_number}: {side}", flush=True)
                command = [sys.executable, "-m", "bench", *(["--quick"] if args.quick else [])]
                command += ["--only", args.only]
                run_once(trees[side], args.only, out / side / str(round_number), command)
    run_dirs = {side: sorted((out / side).iterdir(), key=lambda p: int(p.name)) for side in SIDES}
    runs = {side: [figures(run) for run in run_dirs[side]] for side in SIDES}
    notes = [note for side in SIDES for run in run_dirs[side] for note in problems(run)]
    for note in notes:
        print(f"python -m bench.ab: {note}", file=sys.stderr)
    table = summary(runs["before"], runs["after"], notes)
    (out / "summary.md").write_text(f"base {args.base}\n\n{table}")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
