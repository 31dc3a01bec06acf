"""`python -m loadtest URL...`: check the arguments (run_arguments.py), run, print, write
files, apply the CI gates. Runs a plan (or, with --shard K/N, one shard of it); `__main__.py`
dispatches here and to the other subcommands (`merge`, `aws`).

Exit status: 0 all gates passed, 1 a gate failed, 2 bad arguments or unreachable URL,
3 the run itself failed (a worker died), 130 interrupted.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from loadtest.arguments import UsageError
from loadtest.output import (
    EXIT_GATE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    apply_gates,
    publish,
)
from loadtest.plan import NS_PER_S
from loadtest.preflight import Unreachable, check_reachable
from loadtest.progress import ProgressDisplay
from loadtest.report import build_report
from loadtest.run_arguments import build_parser, plan_from_args
from loadtest.runner import StartMissed, WorkerFailed, run_workers
from loadtest.shardfile import shard_section
from loadtest.worker import tls_context


def run_main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        plan = plan_from_args(args)
    except UsageError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(check_reachable(plan.urls, plan.origin, tls_context(plan.insecure)))
    except Unreachable as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    display = ProgressDisplay(plan, sys.stderr, args.progress_every, quiet=args.quiet)
    started_at = (
        datetime.fromtimestamp(args.start_at / NS_PER_S, UTC)
        if args.start_at is not None
        else datetime.now(UTC)
    )
    try:
        outcome = run_workers(
            plan, display.update, progress_s=args.progress_every, start_at_ns=args.start_at
        )
    except (WorkerFailed, StartMissed) as exc:
        display.finish()
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        display.finish()
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    display.finish()

    report = build_report(plan, outcome.tally, started_at, interrupted=outcome.interrupted)
    if plan.is_sharded:
        # One shard cannot judge loss or throughput: the gates run on the merged report.
        report["shard"] = shard_section(plan, outcome.tally)
        report["gates"], report["passed"] = [], None
    else:
        apply_gates(report, plan.gates)
    publish(report, args.json, args.plot)
    if plan.is_sharded:
        print(f"gates     applied by `{parser.prog} merge` over every shard's --json file")
    if outcome.interrupted:
        print(f"{parser.prog}: interrupted; the figures above are partial", file=sys.stderr)
        return EXIT_INTERRUPTED
    if plan.is_sharded:
        return EXIT_OK
    return EXIT_OK if report["passed"] else EXIT_GATE_FAILED
