"""moto's server on a free loopback port: CloudFormation, EC2, ECS and S3 over real HTTP,
as AWS answers them, with their state kept (stack outputs, tasks and their status, objects).
Stopped by whoever started it; `env()` points a child process at it and nowhere else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import boto3

from harness.polling import wait_until
from harness.ports import free_port
from harness.stopping import terminate_then_kill

REGION = "us-east-1"


# Hop-by-hop and framing headers a proxy must not pass on as they came.
NOT_PASSED_ON = ("content-length", "transfer-encoding", "connection")


def forward(
    url: str, method: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    """One request relayed to `url` (moto, behind a stand-in): its status, body and the
    headers to pass back (an error status is an answer too, not an exception)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, reply, content = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, reply, content = error.code, error.headers, error.read()
    passed = {k: v for k, v in reply.items() if k.lower() not in NOT_PASSED_ON}
    return status, content, passed


class MotoServer:
    """`python -m moto.server` on a free loopback port; every client of the test uses it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for a process that should talk to this server and nothing else."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return {
            **inherited,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self, service: str) -> Any:  # boto3 clients are untyped
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def __enter__(self) -> MotoServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return True
            except OSError:
                return False

        wait_until(answers, 30, what="moto server")
        # moto moves a task towards STOPPED on every describe-tasks call by default; ECS
        # keeps it RUNNING until its container exits, which FargateStandIn reports.
        request = urllib.request.Request(
            f"{self.url}/moto-api/state-manager/set-transition",
            data=json.dumps(
                {
                    "model_name": "ecs::task",
                    "transition": {"progression": "manual", "times": 1_000_000},
                }
            ).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5):
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        terminate_then_kill(self.process, grace=10)
