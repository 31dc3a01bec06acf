"""Learn that the load balancer is taking this task out of service, while it still can drain.

On ECS the order of a task's stop is: deregister it from the target group (the task is
``DEACTIVATING``, its target ``draining``: no new connections, existing ones kept), wait
the target group's deregistration delay, cut what is still open, and only then SIGTERM.
A drain that starts at SIGTERM finds its sockets already gone. So the relay asks the
Elastic Load Balancing API for its own target's state every ``DRAIN_POLL_SECONDS`` and
starts its drain when it reads ``draining`` (docs/reliability.md says why this signal and
not the task metadata endpoint's ``DesiredStatus``, which turns ``STOPPED`` only when the
stop reaches the task, at SIGTERM).

The target is this task's private IPv4 address (IP targets, awsvpc) and the relay's port;
the address comes from the task metadata endpoint v4. Any failure (API, throttling,
network) is logged and retried on the next poll: SIGTERM still drains what it can.
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

log = logging.getLogger("service.deregistration")

TARGET_GROUP_ARN = re.compile(
    r"^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$"
)
DRAINING = "draining"
METADATA_TIMEOUT = 2.0
API_CONNECT_TIMEOUT = 2.0
API_READ_TIMEOUT = 3.0


class MetadataError(RuntimeError):
    """The task metadata endpoint did not say where this task listens."""


@dataclass(frozen=True)
class Target:
    ip: str
    port: int


def task_address(metadata_uri: str) -> str:
    """This task's private IPv4 address, from ``${ECS_CONTAINER_METADATA_URI_V4}/task``."""
    try:
        with urllib.request.urlopen(f"{metadata_uri}/task", timeout=METADATA_TIMEOUT) as response:
            task: dict[str, Any] = orjson.loads(response.read())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise MetadataError(f"task metadata unreadable at {metadata_uri}/task: {exc}") from exc
    for container in task.get("Containers") or ():
        for network in container.get("Networks") or ():
            addresses = network.get("IPv4Addresses") or ()
            if addresses:
                return str(addresses[0])
    raise MetadataError(f"no IPv4 address in the task metadata at {metadata_uri}/task")


class TargetHealthProbe:
    """``DescribeTargetHealth`` for one target of one target group (botocore, synchronous).

    Credentials come from the task role through botocore's usual chain (on ECS the
    container credentials endpoint). The endpoint is the region's, unless
    ``AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2`` or ``endpoint_url`` names another one
    (the tests' stand-in).
    """

    def __init__(self, target_group_arn: str, target: Target, endpoint_url: str | None = None):
        match = TARGET_GROUP_ARN.match(target_group_arn)
        if match is None:
            raise ValueError(f"not a target group ARN: {target_group_arn!r}")
        # Imported here: only a relay that watches its target pays for botocore.
        import botocore.session
        from botocore.config import Config

        self.target_group_arn = target_group_arn
        self.target = target
        self.client = botocore.session.get_session().create_client(
            "elbv2",
            region_name=match.group(1),
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=API_CONNECT_TIMEOUT,
                read_timeout=API_READ_TIMEOUT,
                # The next poll is the retry; one more attempt covers a throttled call.
                retries={"mode": "standard", "total_max_attempts": 2},
            ),
        )

    def state(self) -> str:
        response = self.client.describe_target_health(
            TargetGroupArn=self.target_group_arn,
            Targets=[{"Id": self.target.ip, "Port": self.target.port}],
        )
        descriptions = response.get("TargetHealthDescriptions") or []
        if not descriptions:
            return "unused"
        return str(descriptions[0]["TargetHealth"]["State"])


class DeregistrationWatcher:
    """Polls the target's state; calls ``on_draining`` once, when it reads ``draining``."""

    def __init__(
        self,
        *,
        target_group_arn: str,
        metadata_uri: str,
        port: int,
        poll_seconds: float,
        on_draining: Callable[[], object],
        endpoint_url: str | None = None,
    ) -> None:
        self.target_group_arn = target_group_arn
        self.metadata_uri = metadata_uri
        self.port = port
        self.poll_seconds = poll_seconds
        self.on_draining = on_draining
        self.endpoint_url = endpoint_url
        self.last_state: str | None = None
        self.polls = 0
        self.failures = 0

    async def run(self) -> None:
        probe = await self._probe()
        while True:
            try:
                state = await asyncio.to_thread(probe.state)
            except Exception as exc:  # any API or network failure: try again next poll
                self.failures += 1
                log.warning("target health unreadable", extra={"error": str(exc)})
            else:
                self.polls += 1
                if state != self.last_state:
                    log.info("target state", extra={"state": state, "target": probe.target.ip})
                self.last_state = state
                if state == DRAINING:
                    self.on_draining()
                    return
            await asyncio.sleep(self.poll_seconds)

    async def _probe(self) -> TargetHealthProbe:
        """The probe for this task's own target, once the metadata endpoint names it."""
        while True:
            try:
                ip = await asyncio.to_thread(task_address, self.metadata_uri)
            except MetadataError as exc:
                self.failures += 1
                log.warning("cannot watch the target yet", extra={"error": str(exc)})
                await asyncio.sleep(self.poll_seconds)
                continue
            target = Target(ip, self.port)
            log.info(
                "watching the load balancer target",
                extra={"target": f"{ip}:{self.port}", "interval": self.poll_seconds},
            )
            return await asyncio.to_thread(
                TargetHealthProbe, self.target_group_arn, target, self.endpoint_url
            )
