"""The checked-in defaults of each stage: one base, and what each stage changes in it.

The base is a prod-sized stage that keeps no data (staging is the base renamed, plus one
WAF setting); a stage's override names only the fields where it differs, with reasons.
stages.toml and `-c` context lay over these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from stacks.config.limits import DEFAULT_REGION, STAGES
from stacks.config.model import (
    CacheSettings,
    LoadBalancerSettings,
    NetworkSettings,
    RelaySettings,
    StageConfig,
    StageConfigError,
)

BASE = StageConfig(
    name="base",
    region=DEFAULT_REGION,
    account=None,
    network=NetworkSettings(
        cidr="10.41.0.0/16",
        az_count=2,
        # The relay reaches AWS through interface endpoints (a missing endpoint fails a
        # stage before prod); the NAT stays for the load generators, which connect to the
        # stage's public URL.
        nat_gateways=1,
        flow_log_retention_days=14,
        interface_endpoints=True,
    ),
    # The same node and task size as prod, so load tests measure what prod will do.
    cache=CacheSettings(
        node_type="cache.m7g.large", replicas_per_shard=1, snapshot_retention_days=1
    ),
    load_balancer=LoadBalancerSettings(deletion_protection=False, access_log_retention_days=30),
    relay=RelaySettings(
        cpu=1024,
        memory_mib=2048,
        min_tasks=2,
        max_tasks=10,
        cpu_target_percent=60,
        connections_target_per_task=4000,
        log_retention_days=30,
    ),
    retain_data=False,
)


def _dev(base: StageConfig) -> StageConfig:
    return replace(
        base,
        name="dev",
        # One NAT ($37/month with its IPv4) is cheaper than five interface endpoints in two
        # AZs ($73).
        network=replace(
            base.network,
            cidr="10.40.0.0/16",
            flow_log_retention_days=7,
            interface_endpoints=False,
        ),
        cache=replace(base.cache, node_type="cache.t4g.micro"),
        load_balancer=replace(base.load_balancer, access_log_retention_days=14),
        relay=replace(
            base.relay,
            cpu=256,
            memory_mib=512,
            max_tasks=4,
            connections_target_per_task=1000,
            log_retention_days=7,
            log_level="debug",
            # Spot is ~70% off and dev tolerates a reclaimed task; Spot runs only x86_64.
            cpu_architecture="x86_64",
            spot_percent=100,
        ),
        # No users to protect; a web ACL costs ~$10/month before requests.
        waf=replace(base.waf, enabled=False),
    )


def _staging(base: StageConfig) -> StageConfig:
    return replace(
        base,
        name="staging",
        # The pipeline's load-test gate connects 2,000 clients from a CodeBuild address
        # that is not fixed: count the upgrade rate, do not block it.
        waf=replace(base.waf, upgrade_rate_action="count"),
    )


def _prod(base: StageConfig) -> StageConfig:
    return replace(
        base,
        name="prod",
        # Five endpoints in 3 AZs cost what 3 NAT gateways with their IPv4 do ($110),
        # with less per GB, and the tasks get no route to the internet at all.
        network=replace(
            base.network,
            cidr="10.42.0.0/16",
            az_count=3,
            nat_gateways=0,
            flow_log_retention_days=90,
        ),
        cache=replace(base.cache, replicas_per_shard=2, snapshot_retention_days=7),
        load_balancer=replace(
            base.load_balancer, deletion_protection=True, access_log_retention_days=90
        ),
        relay=replace(base.relay, min_tasks=3, max_tasks=20, log_retention_days=90),
        # prod keeps data (log groups, KMS keys, a final cache snapshot) on a stack delete.
        retain_data=True,
        waf=replace(base.waf, log_retention_days=90),
        # Only prod has users to miss; dev and staging sit at zero clients by design.
        monitoring=replace(base.monitoring, zero_clients_hours_utc=(8, 20)),
    )


# What each stage changes in BASE, and nothing else.
OVERRIDES: Mapping[str, Callable[[StageConfig], StageConfig]] = {
    "dev": _dev,
    "staging": _staging,
    "prod": _prod,
}
_DEFAULTS = {stage: OVERRIDES[stage](BASE) for stage in STAGES}


def default_config(stage: str) -> StageConfig:
    """The checked-in defaults for a stage, before context and environment."""
    if stage not in _DEFAULTS:
        raise StageConfigError(unknown_stage(stage))
    return _DEFAULTS[stage]


def unknown_stage(stage: str) -> str:
    return f"Unknown stage {stage!r}: pass -c stage={'|'.join(STAGES)}."
