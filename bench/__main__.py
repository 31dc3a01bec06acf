"""`python -m bench [--quick] [--only A,B,E-shards]`: run the benchmark scenarios end to end.

Starts redis-server and the relays itself (loopback, free ports), ends every process it
started, and keeps the results of scenarios that ran if a later one fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from bench.environment import describe
from bench.idle import IDLE, scenario_idle
from bench.markdown import render, update_page
from bench.runs import BenchError
from bench.scenarios import FULL, QUICK, SCENARIOS, Cluster
from bench.versus import VERSUS, scenario_versus
from bench.versus_page import render_versus, update_versus_page, write_versus_plot

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PAGE = REPO / "docs" / "benchmarks.md"


# The comparison with the alternatives runs first and leads the page.
ALL_SCENARIOS = {VERSUS: scenario_versus, **SCENARIOS, IDLE: scenario_idle}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs: proves the harness")
    parser.add_argument(
        "--only",
        default=",".join(ALL_SCENARIOS),
        help=f"comma-separated scenarios, any case (default all: {','.join(ALL_SCENARIOS)})",
    )
    args = parser.parse_args(argv)
    by_upper = {name.upper(): name for name in ALL_SCENARIOS}
    asked = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in asked if name.upper() not in by_upper]
    if unknown:
        parser.error(
            f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(ALL_SCENARIOS)}"
        )
    chosen = [by_upper[name.upper()] for name in asked]

    RESULTS.mkdir(parents=True, exist_ok=True)
    environment = describe(REPO)
    (RESULTS / "environment.json").write_bytes(
        orjson.dumps(environment, option=orjson.OPT_INDENT_2)
    )
    timing = QUICK if args.quick else FULL
    results: dict[str, dict[str, Any]] = {}
    failed = None
    with Cluster() as cluster:
        for name in chosen:
            try:
                results[name] = ALL_SCENARIOS[name](cluster, timing, RESULTS)
            except (BenchError, RuntimeError, TimeoutError) as exc:
                failed = f"scenario {name}: {exc}"
                break
    # Scenarios not run this time keep their previous results in the table.
    for name in ALL_SCENARIOS:
        saved = RESULTS / f"{name}.json"
        if name not in results and saved.exists():
            results[name] = orjson.loads(saved.read_bytes())
    idle = results.pop(IDLE, None)
    if versus := results.pop(VERSUS, None):
        write_versus_plot(versus, RESULTS / f"{VERSUS}.png")
        update_versus_page(PAGE, render_versus(versus, f"../bench/results/{VERSUS}.png"))
    update_page(PAGE, render(environment, results, args.quick, idle))
    print(f"\nwrote {PAGE.relative_to(REPO)} and bench/results/")
    if failed:
        print(f"bench: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
