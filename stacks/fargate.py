"""The hardening every Fargate task here shares: x86-64 Linux, a task-storage /tmp under a
read-only root, no Linux capabilities, an init process, and an open-file limit per socket."""

from __future__ import annotations

from aws_cdk import aws_ecs as ecs
from constructs import Construct

from stacks.compliance import acknowledge_nag

TMP_VOLUME = "tmp"


def task_definition(
    scope: Construct, construct_id: str, *, family: str, cpu: int, memory_mib: int
) -> ecs.FargateTaskDefinition:
    task = ecs.FargateTaskDefinition(
        scope,
        construct_id,
        family=family,
        cpu=cpu,
        memory_limit_mib=memory_mib,
        runtime_platform=ecs.RuntimePlatform(
            cpu_architecture=ecs.CpuArchitecture.X86_64,
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
        ),
        # Task storage for /tmp, the one writable path under a read-only root.
        volumes=[ecs.Volume(name=TMP_VOLUME)],
    )
    acknowledge_nag(
        task.obtain_execution_role(),
        "AwsSolutions-IAM5[Resource::*]",
        "The execution role's only wildcard is ecr:GetAuthorizationToken, an action "
        "that supports no resource-level permissions; image pulls are scoped to the "
        "CDK asset repository.",
    )
    return task


def no_capabilities(scope: Construct) -> ecs.LinuxParameters:
    """An init process (signals reach the app, zombies are reaped) and no capabilities."""
    parameters = ecs.LinuxParameters(scope, "LinuxParameters", init_process_enabled=True)
    parameters.drop_capabilities(ecs.Capability.ALL)
    return parameters


def open_files(limit: int) -> list[ecs.Ulimit]:
    """Soft and hard nofile: each WebSocket is a file descriptor."""
    return [ecs.Ulimit(name=ecs.UlimitName.NOFILE, soft_limit=limit, hard_limit=limit)]


def mount_tmp(container: ecs.ContainerDefinition) -> None:
    container.add_mount_points(
        ecs.MountPoint(container_path="/tmp", source_volume=TMP_VOLUME, read_only=False)
    )
