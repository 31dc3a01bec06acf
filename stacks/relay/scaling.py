"""How many relay tasks run and on what: the capacity providers and the two
target-tracking policies (CPU and WebSockets per task)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs

from stacks.config import RelaySettings
from stacks.relay.metrics import connections_metric


def capacity_provider_strategies(relay: RelaySettings) -> list[ecs.CapacityProviderStrategy]:
    """FARGATE for `on_demand_base` tasks, then the rest split by `spot_percent`."""
    strategies = []
    if relay.spot_percent < 100 or relay.on_demand_base > 0:
        strategies.append(
            ecs.CapacityProviderStrategy(
                capacity_provider="FARGATE",
                base=relay.on_demand_base,
                weight=100 - relay.spot_percent,
            )
        )
    if relay.spot_percent > 0:
        strategies.append(
            ecs.CapacityProviderStrategy(
                capacity_provider="FARGATE_SPOT", weight=relay.spot_percent
            )
        )
    return strategies


def scale_relay(service: ecs.FargateService, relay: RelaySettings, *, prefix: str) -> None:
    """Scale out fast on CPU or WebSockets per task; scale in slowly (each removed task
    drops its sockets)."""
    scaling = service.auto_scale_task_count(
        min_capacity=relay.min_tasks, max_capacity=relay.max_tasks
    )
    scale_in = Duration.seconds(relay.scale_in_cooldown_seconds)
    scale_out = Duration.seconds(relay.scale_out_cooldown_seconds)
    scaling.scale_on_cpu_utilization(
        "Cpu",
        policy_name=f"{prefix}-cpu",
        target_utilization_percent=relay.cpu_target_percent,
        scale_in_cooldown=scale_in,
        scale_out_cooldown=scale_out,
    )
    scaling.scale_to_track_custom_metric(
        "Connections",
        policy_name=f"{prefix}-connections",
        metric=connections_metric(prefix),
        target_value=relay.connections_target_per_task,
        scale_in_cooldown=scale_in,
        scale_out_cooldown=scale_out,
    )
