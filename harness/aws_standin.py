"""A local AWS for `python -m loadtest aws`: on moto's server (`harness.moto_server`), what
stacks/loadgen.py deploys, and a stand-in for Fargate that runs each started task's
container command as a local process.

moto keeps the state of the AWS services the command calls. It does not run containers: that
is what `FargateStandIn` adds, the way ECS does it for the parts the orchestration relies
on: a task started with `run-task` runs its container command (with the overrides), and
is STOPPED once that command exits, with the reason in `stoppedReason`.

`stop-task` goes through `EcsStopProxy`, in front of moto, because moto marks a task
STOPPED at once, where ECS sends SIGTERM to the container and reports STOPPED only once it
has exited: the proxy records the request, the stand-in sends SIGTERM, and the task becomes
STOPPED (with the request's reason) when the process ends.

Not modelled: image pulls and start-up time, IAM (moto accepts any credentials and
allows every call), VPC networking, and the SIGKILL after the container's stopTimeout.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness.http_standin import LoopbackHTTPServer, QuietHandler
from harness.moto_server import MotoServer, forward
from harness.paths import REPO

CONTAINER = "loadtest"


def deploy_loadgen_stand_in(moto: MotoServer, stage: str) -> dict[str, str]:
    """What stacks/loadgen.py deploys, as far as the command reads it: the stack's outputs,
    a cluster, a task definition, the results bucket, and a VPC whose private subnets
    carry CDK's subnet-name tag."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    subnets = []
    for n, name in enumerate(("public", "service", "service")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.41.{n}.0/24")["Subnet"]["SubnetId"]
        ec2.create_tags(Resources=[subnet], Tags=[{"Key": "aws-cdk:subnet-name", "Value": name}])
        subnets.append(subnet)
    group = ec2.create_security_group(GroupName="loadgen", Description="lg", VpcId=vpc)["GroupId"]
    template = {
        "Resources": {
            "ResultsBucket": {"Type": "AWS::S3::Bucket"},
            "Cluster": {"Type": "AWS::ECS::Cluster"},
            "TaskDefinition": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": f"chat-relay-{stage}-loadgen",
                    "RequiresCompatibilities": ["FARGATE"],
                    "NetworkMode": "awsvpc",
                    "Cpu": "4096",
                    "Memory": "8192",
                    # moto needs container-level sizes, which Fargate does not
                    "ContainerDefinitions": [
                        {"Name": CONTAINER, "Image": "loadtest", "Cpu": 4096, "Memory": 8192}
                    ],
                },
            },
        },
        "Outputs": {
            "ClusterName": {"Value": {"Ref": "Cluster"}},
            "TaskDefinitionArn": {"Value": {"Ref": "TaskDefinition"}},
            "ContainerName": {"Value": CONTAINER},
            "ResultsBucketName": {"Value": {"Ref": "ResultsBucket"}},
            "ResultsPrefix": {"Value": "results/"},
            "SubnetName": {"Value": "service"},
            "SecurityGroupId": {"Value": group},
        },
    }
    cloudformation = moto.client("cloudformation")
    cloudformation.create_stack(
        StackName=f"chat-relay-{stage}-loadgen", TemplateBody=json.dumps(template)
    )
    (stack,) = cloudformation.describe_stacks(StackName=f"chat-relay-{stage}-loadgen")["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    return {**outputs, "PrivateSubnets": ",".join(sorted(subnets[1:]))}


STOP_TASK = "AmazonEC2ContainerServiceV20141113.StopTask"


class EcsStopProxy:
    """An endpoint in front of moto that passes every request through, except ECS
    StopTask: that it records for FargateStandIn and answers as ECS does, with the task
    still RUNNING and its desired status STOPPED."""

    def __init__(self, moto: MotoServer) -> None:
        self.moto = moto
        self.stop_requests: dict[str, str] = {}  # task ARN (or id) -> reason
        self.lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("X-Amz-Target") == STOP_TASK:
                    answer = proxy.record_stop(json.loads(body))
                    self.reply(200, answer, {"Content-Type": "application/x-amz-json-1.1"})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                status, content, passed = forward(
                    proxy.moto.url + self.path, self.command, body or None, headers
                )
                self.reply(status, content, passed)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay  # noqa: N815 - http.server names

        self.server = LoopbackHTTPServer(Handler)

    @property
    def url(self) -> str:
        return self.server.url

    def env(self) -> dict[str, str]:
        return {**self.moto.env(), "AWS_ENDPOINT_URL": self.url}

    def record_stop(self, request: dict[str, Any]) -> bytes:
        with self.lock:
            self.stop_requests[request["task"]] = request.get("reason", "")
        task = {"taskArn": request["task"], "lastStatus": "RUNNING", "desiredStatus": "STOPPED"}
        return json.dumps({"task": task}).encode()

    def __enter__(self) -> EcsStopProxy:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


class FargateStandIn:
    """Runs the container command of every task started on `cluster`, then stops the task."""

    POLL_S = 0.2

    def __init__(
        self, moto: MotoServer, cluster: str, logs: Path, stops: EcsStopProxy | None = None
    ) -> None:
        self.moto, self.cluster, self.logs, self.stops = moto, cluster, logs, stops
        self.signalled: set[str] = set()
        self.ecs = moto.client("ecs")
        self.started: dict[
            str, dict[str, Any]
        ] = {}  # task ARN -> the run-task request as ECS kept it
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[BaseException] = []

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._start_new_tasks()
                self._stop_finished_tasks()
                time.sleep(self.POLL_S)
        except BaseException as exc:  # surfaced by __exit__, not lost in the thread
            self.errors.append(exc)

    def _start_new_tasks(self) -> None:
        arns = self.ecs.list_tasks(cluster=self.cluster, desiredStatus="RUNNING")["taskArns"]
        new = [arn for arn in arns if arn not in self.started]
        if not new:
            return
        for task in self.ecs.describe_tasks(cluster=self.cluster, tasks=new)["tasks"]:
            (override,) = task["overrides"]["containerOverrides"]
            command = override["command"]
            assert command[0] == "python", command  # the image's interpreter
            self.started[task["taskArn"]] = task
            log = (self.logs / f"task-{len(self.started)}.log").open("wb")
            self.processes[task["taskArn"]] = subprocess.Popen(
                [sys.executable, *command[1:]],
                cwd=REPO,  # the image's WORKDIR holds the loadtest package, as here
                env=self.moto.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _stop_reason(self, arn: str) -> str | None:
        """The reason of a stop-task request for this task, if one came."""
        if self.stops is None:
            return None
        with self.stops.lock:
            for task, reason in self.stops.stop_requests.items():
                if arn == task or arn.endswith("/" + task):
                    return reason
        return None

    def _stop_finished_tasks(self) -> None:
        for arn, process in list(self.processes.items()):
            requested = self._stop_reason(arn)
            if requested is not None and arn not in self.signalled and process.poll() is None:
                process.send_signal(signal.SIGTERM)  # what ECS does on stop-task
                self.signalled.add(arn)
            code = process.poll()
            if code is not None:
                del self.processes[arn]
                self.ecs.stop_task(
                    cluster=self.cluster,
                    task=arn,
                    reason=requested or f"Essential container in task exited ({code})",
                )

    def __enter__(self) -> FargateStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        for process in self.processes.values():
            process.kill()
            process.wait(10)
        if self.errors:
            raise self.errors[0]
