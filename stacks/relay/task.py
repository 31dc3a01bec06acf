"""The relay's Fargate task: its log group, the task definition, the container (image,
environment, health check, hardening) and the task role's permissions.

Functions, not a construct: everything is created directly in the service stack, so
the logical ids stay what they were when this lived in stacks/service.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs

from stacks import fargate
from stacks.compliance import acknowledge_nag
from stacks.config import RelaySettings, StageIdentity
from stacks.log_groups import encrypted_log_group, logs_key

CONTAINER_NAME = "relay"
# uid/gid of the `relay` user that service/Dockerfile creates.
RELAY_USER = "10001:10001"
# Each WebSocket is a file descriptor; MAX_CONNECTIONS (10000) plus Redis and logs.
OPEN_FILES_LIMIT = 65536


@dataclass(frozen=True)
class RelayTask:
    task_definition: ecs.FargateTaskDefinition
    container: ecs.ContainerDefinition
    log_group: logs.LogGroup


def relay_task(
    scope: Stack,
    *,
    stage: StageIdentity,
    relay: RelaySettings,
    environment: dict[str, str],
    secrets: Mapping[str, ecs.Secret],
    image_directory: Path,
) -> RelayTask:
    """`environment`: the container's variables; `secrets` (the relay's own,
    stacks/relay/secrets.py) are added as ECS secrets (Redis is IAM-authenticated: no
    Redis secret)."""
    log_key = logs_key(scope, "RelayLogKey", stage, "relay container logs")
    log_group = encrypted_log_group(
        scope, "RelayLogGroup", stage, retention_days=relay.log_retention_days, key=log_key
    )

    task_definition = fargate.task_definition(
        scope,
        "TaskDefinition",
        # Named, not derived from the construct path: a hand deploy and the pipeline
        # (whose stages sit one level deeper) register revisions of the same family.
        family=f"{stage.prefix}-relay",
        cpu=relay.cpu,
        memory_mib=relay.memory_mib,
        cpu_architecture=relay.cpu_architecture,
    )

    container = task_definition.add_container(
        CONTAINER_NAME,
        image=ecs.ContainerImage.from_asset(
            str(image_directory),
            file="service/Dockerfile",
            # Built for the task's architecture (from an x86 laptop: buildx with QEMU
            # emulation; the pipeline builds it on an ARM CodeBuild machine).
            platform=fargate.image_platform(relay.cpu_architecture),
        ),
        port_mappings=[ecs.PortMapping(container_port=relay.port, name="http")],
        environment=environment,
        secrets=dict(secrets),
        logging=ecs.LogDrivers.aws_logs(
            stream_prefix=CONTAINER_NAME,
            log_group=log_group,
            # A slow log pipe must never block the event loop that serves the sockets.
            mode=ecs.AwsLogDriverMode.NON_BLOCKING,
        ),
        health_check=ecs.HealthCheck(
            command=["CMD", "python", "-m", "service.healthcheck"],
            interval=Duration.seconds(15),
            timeout=Duration.seconds(5),
            retries=3,
            start_period=Duration.seconds(20),
        ),
        readonly_root_filesystem=True,
        user=RELAY_USER,
        stop_timeout=Duration.seconds(relay.stop_timeout_seconds),
        linux_parameters=fargate.no_capabilities(scope),
        ulimits=fargate.open_files(OPEN_FILES_LIMIT),
        essential=True,
    )
    fargate.mount_tmp(container)
    acknowledge_nag(
        task_definition,
        "AwsSolutions-ECS2",
        "The environment holds only non-secret relay settings (ports, limits, the cache "
        "URL without credentials, the IAM user's name, the event bus name); the server API "
        "keys and the room token secret come from Secrets Manager as ECS secrets; Redis "
        "has no secret: the relay signs a short-lived IAM token per connection.",
    )
    return RelayTask(task_definition, container, log_group)


def allow_cache_connect(task_definition: ecs.FargateTaskDefinition, resources: list[str]) -> None:
    """The task may authenticate to exactly this replication group as exactly this user."""
    task_definition.add_to_task_role_policy(
        iam.PolicyStatement(actions=["elasticache:Connect"], resources=resources)
    )


def allow_target_health_read(task_definition: ecs.FargateTaskDefinition) -> None:
    """The task reads its own target's state, to drain before the ALB cuts it."""
    task_definition.add_to_task_role_policy(
        iam.PolicyStatement(actions=["elasticloadbalancing:DescribeTargetHealth"], resources=["*"])
    )
    acknowledge_nag(
        task_definition.task_role,
        "AwsSolutions-IAM5[Resource::*]",
        "elasticloadbalancing:DescribeTargetHealth supports no resource-level permissions "
        "(Service Authorization Reference, Elastic Load Balancing V2): the task role's "
        "only wildcard is this one read-only action, which the relay calls for its own "
        "target to drain before the ALB cuts its connections.",
    )
