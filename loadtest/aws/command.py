"""`python -m loadtest aws`: one load test as N Fargate tasks, one merged report.

This module reads the arguments and runs the steps below; stack.py finds the stage's
load-generator stack, fleet.py starts, watches and stops the tasks and downloads the reports.

    python -m loadtest aws --stage staging --shards 4 -- wss://chat.staging.example.com \
        --origin https://chat.staging.example.com --clients 20000 --workers 4 ... gates

1. Reads the stage's load-generator stack outputs (cluster, task definition, bucket,
   security group) and finds the private subnets of the security group's VPC.
2. Checks the load-test arguments here, then starts shard K of N as one `ecs run-task`
   each, all with one --start-at far enough ahead for Fargate to pull and start them.
3. Waits until every task has stopped (Ctrl-C stops them; each then uploads its partial
   report), downloads the shard reports from S3 and merges them: the summary, --json,
   --plot and the gates are those of `python -m loadtest merge`, and so is the exit status.
"""

from __future__ import annotations

import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from loadtest.arguments import OneLineParser, UsageError, check_output_paths, duration
from loadtest.aws.fleet import STOP_GRACE_S, Fleet
from loadtest.aws.stack import AwsRunError, Generators, find_generators
from loadtest.merge import MergeError, merge_shards, read_shard
from loadtest.output import (
    EXIT_GATE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    apply_gates,
    publish,
)
from loadtest.plan import NS_PER_S
from loadtest.run_arguments import build_parser, plan_from_args

PROG = "python -m loadtest aws"
STAGES = ("dev", "staging", "prod")
MAX_SHARDS = 100  # describe-tasks takes 100 tasks per call; far beyond any staging test


def build_aws_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description="Run one load test as N shards on ECS Fargate (the stage's loadgen stack), "
        "then merge their reports. Everything after the options below is a load test's "
        "arguments: URL... --clients ... and the gates; --json and --plot get the merged report.",
        epilog="Exit status: as `python -m loadtest merge`; 3 when tasks failed to start or "
        "report, 130 interrupted. See docs/loadtest.md (staging runbook).",
    )
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--shards", type=int, required=True, help="Fargate tasks, one per shard")
    parser.add_argument("--region", help="AWS region (default: the AWS CLI's configuration)")
    parser.add_argument(
        "--start-lead",
        type=duration,
        default=120.0,
        help="time from launch to the common start, for image pulls (default 2m)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("."),
        help="where the shard reports are downloaded (default: here, in loadtest-<run id>/)",
    )
    parser.add_argument(
        "--poll-every", type=duration, default=10.0, help="task status interval (default 10s)"
    )
    parser.add_argument(
        "--allow-prod", action="store_true", help="needed with --stage prod: real users there"
    )
    return parser


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(our options, the load test's arguments), split at `--` or at the first URL."""
    if "--" in argv:
        split = argv.index("--")
        return argv[:split], argv[split + 1 :]
    for index, token in enumerate(argv):
        if token.startswith(("ws://", "wss://")):
            return argv[:index], argv[index:]
    return argv, []


OUTPUT_FLAGS = ("--json", "--plot")
SHARD_FLAGS = ("--shard", "--start-at", "--run-id")


def strip_flags(tokens: list[str], flags: tuple[str, ...]) -> list[str]:
    """`tokens` without `flags` and their values (`--json F` or `--json=F`)."""
    kept, skip = [], False
    for token in tokens:
        if skip:
            skip = False
        elif token in flags:
            skip = True
        elif not token.startswith(tuple(f"{flag}=" for flag in flags)):
            kept.append(token)
    return kept


def aws_main(argv: list[str]) -> int:
    parser = build_aws_parser()
    ours, loadtest_args = split_args(argv)
    options = parser.parse_args(ours)
    if not loadtest_args:
        parser.error("give the load test's arguments after the options: -- URL... --clients ...")
    if options.stage == "prod" and not options.allow_prod:
        parser.error("--stage prod load-tests production: add --allow-prod if you mean it")
    if not 1 <= options.shards <= MAX_SHARDS:
        parser.error(f"--shards must be between 1 and {MAX_SHARDS}")
    if any(t == f or t.startswith(f"{f}=") for t in loadtest_args for f in SHARD_FLAGS):
        parser.error("--shard, --start-at and --run-id are set by this command")

    run_id = secrets.token_hex(3)
    start_at = int(time.time() + options.start_lead) * NS_PER_S
    start_iso = datetime.fromtimestamp(start_at / NS_PER_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    shard_args = [*strip_flags(loadtest_args, OUTPUT_FLAGS), "--run-id", run_id]
    try:
        # The arguments as shard 1 would see them: a mistake fails here, not in N tasks.
        outputs = build_parser().parse_args(
            [*loadtest_args, f"--shard=1/{options.shards}", f"--start-at={start_iso}"]
        )
        plan = plan_from_args(outputs)
        check_output_paths(outputs)
    except UsageError as exc:
        parser.error(str(exc))

    import boto3  # here: only this command needs it

    session = boto3.session.Session(region_name=options.region)
    out_dir = options.out_dir / f"loadtest-{run_id}"
    try:
        generators = find_generators(session, options.stage)
        fleet = Fleet(session, generators, run_id)
        region = ["--region", session.region_name] if session.region_name else []
        commands = {
            k: shard_command(
                generators, run_id, [*region, "--"], shard_args, k, options.shards, start_iso
            )
            for k in range(1, options.shards + 1)
        }
        print(
            f"run {run_id}: {options.shards} shard task(s) on {generators.cluster}, "
            f"start at {start_iso}; reports in {generators.results.join(run_id)}/",
            flush=True,
        )
        fleet.start(commands)
        interrupted = fleet.wait(
            deadline=start_at / NS_PER_S + plan.stop_ns / NS_PER_S + STOP_GRACE_S,
            poll_s=options.poll_every,
            start_at=start_at / NS_PER_S,
        )
        paths = fleet.download(out_dir, options.shards)
    except AwsRunError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    try:
        report = merge_shards([read_shard(path) for path in paths])
    except MergeError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    apply_gates(report, plan.gates)
    publish(report, outputs.json, outputs.plot)
    print(f"shard reports: {out_dir}/", flush=True)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if report["passed"] else EXIT_GATE_FAILED


def shard_command(
    generators: Generators,
    run_id: str,
    task_options: list[str],
    args: list[str],
    index: int,
    count: int,
    start: str,
) -> list[str]:
    """The container command of shard `index`: loadtest.aws.task's options, then `--` and
    the load test's arguments with this shard's --shard and the common --start-at."""
    results = generators.results.join(run_id)
    return [
        "python",
        "-m",
        "loadtest.aws.task",
        f"--results={results}/",
        *task_options,
        *args,
        f"--shard={index}/{count}",
        f"--start-at={start}",
    ]
