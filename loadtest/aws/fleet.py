"""The run's Fargate tasks: one started per shard, watched until stopped, stopped on Ctrl-C,
their reports downloaded from S3."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from loadtest.aws.s3uri import shard_report_name
from loadtest.aws.stack import AwsRunError, Generators

STOP_GRACE_S = 300.0  # after the planned end: closing, uploading, Fargate stopping the task
# Bound for `ecs run-task` options (the container overrides): 8192 characters.
MAX_OVERRIDE_CHARS = 8192


class Fleet:
    """The run's tasks: started one per shard, watched until stopped, stopped on Ctrl-C."""

    def __init__(self, session: Any, generators: Generators, run_id: str) -> None:
        self.ecs = session.client("ecs")
        self.s3 = session.client("s3")
        self.generators = generators
        self.run_id = run_id
        self.tasks: dict[str, int] = {}  # task ARN -> shard
        self.stopped: dict[int, dict[str, Any]] = {}  # shard -> describe-tasks entry once STOPPED

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


def stopped_reason(task: dict[str, Any] | None) -> str:
    if task is None:
        return "task never seen stopped"
    codes = [c.get("exitCode") for c in task.get("containers", []) if "exitCode" in c]
    reason = str(task.get("stoppedReason", "stopped"))
    return reason + (f", exit status {codes[0]}" if codes else "")
