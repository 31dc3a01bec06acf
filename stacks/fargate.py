"""The hardening every Fargate task here shares: Linux on the task's CPU architecture
(arm64/Graviton or x86_64), a task-storage /tmp under a read-only root, no Linux
capabilities, an init process, and an open-file limit per socket."""

from __future__ import annotations

from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from stacks.compliance import INLINE_POLICY_REASON, acknowledge_nag

TMP_VOLUME = "tmp"
# cpu_architecture setting -> the task's runtime platform and the image's build platform.
_ARCHITECTURES = {
    "arm64": (ecs.CpuArchitecture.ARM64, ecr_assets.Platform.LINUX_ARM64),
    "x86_64": (ecs.CpuArchitecture.X86_64, ecr_assets.Platform.LINUX_AMD64),
}


def image_platform(cpu_architecture: str) -> ecr_assets.Platform:
    """What the image is built for: the architecture its task runs on."""
    return _ARCHITECTURES[cpu_architecture][1]


def task_definition(
    scope: Construct,
    construct_id: str,
    *,
    family: str,
    cpu: int,
    memory_mib: int,
    cpu_architecture: str = "x86_64",
) -> ecs.FargateTaskDefinition:
    task = ecs.FargateTaskDefinition(
        scope,
        construct_id,
        family=family,
        cpu=cpu,
        memory_limit_mib=memory_mib,
        runtime_platform=ecs.RuntimePlatform(
            cpu_architecture=_ARCHITECTURES[cpu_architecture][0],
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
    acknowledge_nag(task, "NIST.800.53.R5-IAMNoInlinePolicy", INLINE_POLICY_REASON)
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
