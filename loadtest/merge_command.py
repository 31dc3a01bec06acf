"""`python -m loadtest merge FILE...`: arguments, then the merged report like a run's."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from loadtest.arguments import (
    OneLineParser,
    UsageError,
    add_gate_arguments,
    check_output_paths,
    gates_from_args,
)
from loadtest.merge import MergeError, merge_shards, read_shard
from loadtest.output import EXIT_GATE_FAILED, EXIT_OK, EXIT_USAGE, apply_gates, publish
from loadtest.plan import Gates

GATE_DESTS = tuple(f.name for f in dataclasses.fields(Gates))


def build_merge_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m loadtest merge",
        description="Merge the --json files of every shard of one run (--shard K/N) into "
        "the report one unsharded run would give, and apply the gates to it.",
        epilog="Gates given here replace the shards' own. Exit status: 0 pass, 1 a gate "
        "failed, 2 bad or incomplete files. See docs/loadtest.md.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="shard JSON files")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the merged report")
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="write the merged latency over time, with gate limits (needs matplotlib)",
    )
    add_gate_arguments(parser)
    return parser


def merge_main(argv: list[str]) -> int:
    parser = build_merge_parser()
    args = parser.parse_args(argv)
    try:
        check_output_paths(args)
        given = any(getattr(args, name) is not None for name in GATE_DESTS)
        gates = gates_from_args(args) if given else None
    except UsageError as exc:
        parser.error(str(exc))
    try:
        shards = [read_shard(path) for path in args.files]
        report = merge_shards(shards, gates)
    except MergeError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    apply_gates(report, gates if gates is not None else shards[0].plan.gates)
    publish(report, args.json, args.plot)
    return EXIT_OK if report["passed"] else EXIT_GATE_FAILED
