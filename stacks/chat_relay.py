"""The whole deployment of one stage: four stacks wired together, plus the cdk-nag checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import App, Environment, Stack, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.cache import CacheStack
from stacks.config import StageConfig
from stacks.loadgen import LoadGeneratorStack
from stacks.monitoring import MonitoringStack
from stacks.network import NetworkStack
from stacks.service import ServiceStack


@dataclass(frozen=True)
class ChatRelay:
    config: StageConfig
    network: NetworkStack
    cache: CacheStack
    service: ServiceStack
    monitoring: MonitoringStack
    loadgen: LoadGeneratorStack

    @property
    def stacks(self) -> dict[str, Stack]:
        return {
            "network": self.network,
            "cache": self.cache,
            "service": self.service,
            "monitoring": self.monitoring,
            "loadgen": self.loadgen,
        }


def stack_name(config: StageConfig, part: str) -> str:
    return f"{config.prefix}-{part}"


def build_chat_relay(app: App, config: StageConfig, *, image_directory: Path) -> ChatRelay:
    """Add the stage's stacks to `app` and register the AWS Solutions checks on it.

    `image_directory` is the Docker build context of the relay image (the repository root:
    the image needs service/, web/ and requirements.txt).
    """
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    env = Environment(account=config.account, region=config.region)
    common = {"env": env, "termination_protection": config.retain_data}

    network = NetworkStack(
        app,
        stack_name(config, "network"),
        config=config,
        description=f"chat-relay {config.name}: VPC, flow logs, security groups",
        **common,
    )
    cache = CacheStack(
        app,
        stack_name(config, "cache"),
        config=config,
        vpc=network.vpc,
        security_group=network.cache_security_group,
        description=f"chat-relay {config.name}: Valkey replication group and its AUTH token",
        **common,
    )
    service = ServiceStack(
        app,
        stack_name(config, "service"),
        config=config,
        vpc=network.vpc,
        alb_security_group=network.alb_security_group,
        service_security_group=network.service_security_group,
        redis_url=cache.redis_url,
        auth_token=cache.auth_token,
        auth_token_key=cache.key,
        image_directory=image_directory,
        description=f"chat-relay {config.name}: ALB and the relay on Fargate",
        **common,
    )
    monitoring = MonitoringStack(
        app,
        stack_name(config, "monitoring"),
        config=config,
        load_balancer=service.load_balancer,
        target_group=service.target_group,
        service=service.service,
        cache_node_ids=cache.node_ids,
        cache_nodes_per_shard=config.cache.nodes_per_shard,
        description=f"chat-relay {config.name}: dashboard, alarms, alarm topic",
        **common,
    )
    # Idle until `python -m loadtest aws` runs tasks in it; only the VPC is shared.
    loadgen = LoadGeneratorStack(
        app,
        stack_name(config, "loadgen"),
        config=config,
        vpc=network.vpc,
        image_directory=image_directory,
        description=f"chat-relay {config.name}: load-generator tasks and their results bucket",
        **common,
    )

    Tags.of(app).add("project", "chat-relay")
    Tags.of(app).add("stage", config.name)
    for key, value in config.tags.items():
        Tags.of(app).add(key, value)
    return ChatRelay(config, network, cache, service, monitoring, loadgen)
