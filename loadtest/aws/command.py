"""`python -m loadtest aws`: one load test as N Fargate tasks, one merged report.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.arguments import OneLineParser, UsageError, check_output_paths, duration
from loadtest.aws.s3uri import S3Location, shard_report_name
from loadtest.cli import build_parser, plan_from_args
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

PROG = "python -m loadtest aws"
STAGES = ("dev", "staging", "prod")
MAX_SHARDS = 100  # describe-tasks takes 100 tasks per call; far beyond any staging test
STOP_GRACE_S = 300.0  # after the planned end: closing, uploading, Fargate stopping the task
# Bound for `ecs run-task` options (the container overrides): 8192 characters.
MAX_OVERRIDE_CHARS = 8192


class AwsRunError(RuntimeError):
    """The tasks could not be started or did not finish; the message says what to do."""


@dataclass(frozen=True)
class Generators:
    """The stage's load-generator stack, from its outputs."""

    cluster: str
    task_definition: str
    container: str
    results: S3Location
    security_group: str
    subnets: tuple[str, ...]


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


def find_generators(session: Any, stage: str) -> Generators:
    """The loadgen stack's outputs, and the private subnets of its security group's VPC."""
    from botocore.exceptions import BotoCoreError, ClientError

    stack = f"chat-relay-{stage}-loadgen"
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}
        ec2 = session.client("ec2")
        (group,) = ec2.describe_security_groups(GroupIds=[outputs["SecurityGroupId"]])[
            "SecurityGroups"
        ]
        subnets = ec2.describe_subnets(
            Filters=[
                {"Name": "vpc-id", "Values": [group["VpcId"]]},
                {"Name": "tag:aws-cdk:subnet-name", "Values": [outputs["SubnetName"]]},
            ]
        )["Subnets"]
    except (ClientError, BotoCoreError) as exc:
        raise AwsRunError(
            f"cannot read stack {stack} ({exc}): deploy it with `make deploy STAGE={stage}` "
            "and check your AWS credentials and region"
        ) from None
    except KeyError as exc:
        raise AwsRunError(f"stack {stack} has no output {exc}: redeploy it") from None
    if not subnets:
        raise AwsRunError(f"no subnet named {outputs['SubnetName']!r} in {group['VpcId']}")
    return Generators(
        cluster=outputs["ClusterName"],
        task_definition=outputs["TaskDefinitionArn"],
        container=outputs["ContainerName"],
        results=S3Location(outputs["ResultsBucketName"], outputs["ResultsPrefix"].rstrip("/")),
        security_group=outputs["SecurityGroupId"],
        subnets=tuple(sorted(s["SubnetId"] for s in subnets)),
    )


class Fleet:
    """The run's tasks: started one per shard, watched until stopped, stopped on Ctrl-C."""

    def __init__(self, session: Any, generators: Generators, run_id: str) -> None:
        self.ecs = session.client("ecs")
        self.s3 = session.client("s3")
        self.generators = generators
        self.run_id = run_id
        self.tasks: dict[str, int] = {}  # task ARN -> shard
        self.stopped: dict[int, dict] = {}  # shard -> describe-tasks entry once STOPPED

    def start(self, commands: dict[int, list[str]]) -> None:
        g = self.generators
        for index, command in commands.items():
            overrides = {"containerOverrides": [{"name": g.container, "command": command}]}
            if len(str(overrides)) > MAX_OVERRIDE_CHARS:
                raise AwsRunError(
                    f"the shard command is over ECS's {MAX_OVERRIDE_CHARS} characters of "
                    "overrides: shorten the arguments"
                )
            response = self.ecs.run_task(
                cluster=g.cluster,
                taskDefinition=g.task_definition,
                launchType="FARGATE",
                count=1,
                startedBy=f"loadtest-{self.run_id}",
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": list(g.subnets),
                        "securityGroups": [g.security_group],
                        "assignPublicIp": "DISABLED",
                    }
                },
                overrides=overrides,
                tags=[{"key": "loadtest-run", "value": self.run_id}],
            )
            if response.get("failures") or not response.get("tasks"):
                self.stop_all("a shard could not start")
                reasons = "; ".join(
                    f"{f.get('reason')} {f.get('detail', '')}".strip()
                    for f in response.get("failures", [])
                )
                raise AwsRunError(f"shard {index} did not start: {reasons or 'no task'}")
            self.tasks[response["tasks"][0]["taskArn"]] = index

    def wait(self, deadline: float, poll_s: float, start_at: float) -> bool:
        """Until every task has stopped; True if Ctrl-C stopped them first."""
        interrupted = False
        last_line = ""
        while len(self.stopped) < len(self.tasks):
            try:
                if time.time() > deadline:
                    self.stop_all("past the planned end of the run")
                    raise AwsRunError(
                        "tasks still running past the planned end; stopped them. Their logs "
                        "(the stack's log group) say where they stand"
                    )
                statuses = self.poll()
                line = "tasks " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
                ahead = start_at - time.time()
                line += f"; start in {ahead:.0f} s" if ahead > 0 else ""
                if line != last_line:
                    print(line, file=sys.stderr, flush=True)
                    last_line = line
                if len(self.stopped) < len(self.tasks):
                    time.sleep(poll_s)
            except KeyboardInterrupt:
                if interrupted:
                    raise
                interrupted = True
                print(
                    "interrupted: stopping the tasks; each uploads what it measured",
                    file=sys.stderr,
                    flush=True,
                )
                self.stop_all("interrupted by the operator")
                deadline = min(deadline, time.time() + STOP_GRACE_S)
        return interrupted

    def poll(self) -> dict[str, int]:
        arns = list(self.tasks)
        described = self.ecs.describe_tasks(cluster=self.generators.cluster, tasks=arns)
        statuses: dict[str, int] = {}
        for task in described["tasks"]:
            status = task["lastStatus"]
            statuses[status] = statuses.get(status, 0) + 1
            if status == "STOPPED":
                self.stopped[self.tasks[task["taskArn"]]] = task
        return statuses

    def stop_all(self, reason: str) -> None:
        for arn, index in self.tasks.items():
            if index not in self.stopped:
                self.ecs.stop_task(cluster=self.generators.cluster, task=arn, reason=reason)

    def download(self, out_dir: Path, count: int) -> list[Path]:
        """Every shard's report, or an error naming the shards without one and why."""
        from botocore.exceptions import ClientError

        out_dir.mkdir(parents=True, exist_ok=True)
        paths, missing = [], []
        for index in range(1, count + 1):
            source = self.generators.results.join(self.run_id).join(shard_report_name(index))
            target = out_dir / shard_report_name(index)
            try:
                self.s3.download_file(source.bucket, source.key, str(target))
            except ClientError:
                missing.append(f"shard {index} ({stopped_reason(self.stopped.get(index))})")
                continue
            paths.append(target)
        if missing:
            raise AwsRunError(
                f"no report from {', '.join(missing)}: see the shard's log in the stack's "
                f"log group (stream loadtest/loadtest/<task id>); a shard that started after "
                f"--start-at says so there (raise --start-lead); the other reports are in "
                f"{out_dir}/"
            )
        return paths


def stopped_reason(task: dict | None) -> str:
    if task is None:
        return "task never seen stopped"
    codes = [c.get("exitCode") for c in task.get("containers", []) if "exitCode" in c]
    reason = task.get("stoppedReason", "stopped")
    return reason + (f", exit status {codes[0]}" if codes else "")
