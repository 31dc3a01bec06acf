"""Every check of a stage's settings, each problem with its fix; `validate` runs them all.

The relay's own settings and its drain timings are checked in stacks/config/relay_checks.py,
the edge's (load balancer, WAF, the server API's allow list) in stacks/config/edge_checks.py.
"""

from __future__ import annotations

import re

from contract.settings import ATTACHMENT_MAX_BYTES
from stacks.config.edge_checks import api_problems, load_balancer_problems, waf_problems
from stacks.config.limits import (
    DEFAULT_REGION,
    MAX_CACHE_NODES,
    retention_problems,
)
from stacks.config.model import CacheSettings, StageConfig, StageConfigError
from stacks.config.relay_checks import drain_timing_problems, relay_problems
from stacks.config.sign_in import sign_in_problems

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def validate(config: StageConfig, *, source: str | None = None) -> None:
    """Raise StageConfigError listing every problem in `config`, each with its fix.

    `source` names the settings file the values came from, for the message's heading.
    """
    problems = [*_environment_problems(config), *_network_problems(config)]
    problems += [*_cache_problems(config), *load_balancer_problems(config)]
    problems += [*relay_problems(config), *_monitoring_problems(config)]
    problems += sign_in_problems(
        config.sign_in,
        stage=config.name,
        https=config.load_balancer.https,
        domain_name=config.load_balancer.domain_name,
    )
    problems += drain_timing_problems(config)
    problems += waf_problems(config)
    problems += api_problems(config)
    problems += _attachment_problems(config)
    if config.sign_in.enabled and config.network.nat_gateways == 0:
        problems.append(
            "sign_in with network.nat_gateways=0: the relay verifies the ALB's sign-in tokens "
            "with keys from public-keys.auth.elb.<region>.amazonaws.com, which no VPC "
            "endpoint serves; set nat_gateways = 1 (or more) in "
            f"[stages.{config.name}.network]."
        )
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        origin = f" (from {source} and -c context)" if source else ""
        raise StageConfigError(f"Invalid settings for stage '{config.name}'{origin}:\n{lines}")


def _environment_problems(c: StageConfig) -> list[str]:
    problems = []
    if not _REGION.match(c.region):
        problems.append(
            f'region {c.region!r} is not an AWS region name: set region = "eu-west-1" '
            f"in [stages.{c.name}] (or -c region=..., or CDK_DEFAULT_REGION); unset, the "
            f"stage uses {DEFAULT_REGION}."
        )
    if c.account is not None and not _ACCOUNT.match(c.account):
        problems.append(
            f"account {c.account!r} is not a 12-digit AWS account id: set account = "
            f'"123456789012" (in quotes) in [stages.{c.name}] (or -c account=..., or '
            "CDK_DEFAULT_ACCOUNT), or leave it out for an account-agnostic synth."
        )
    if c.alarm_email is not None and not _EMAIL.match(c.alarm_email):
        problems.append(
            f"alarm_email {c.alarm_email!r} is not an email address: set alarm_email = "
            f'"oncall@example.com" in [stages.{c.name}] (or -c alarmEmail=...), or leave '
            "it out."
        )
    return problems


def _network_problems(c: StageConfig) -> list[str]:
    n = c.network
    problems = []
    if n.az_count < 2:
        problems.append(f"network.az_count={n.az_count}: the stack needs at least 2 AZs.")
    if not n.availability_zones:
        problems.append(
            f"network.availability_zones is not set for region {c.region}: outside "
            f"{DEFAULT_REGION} Fargate does not run in every zone (AWS's Fargate regions page "
            "lists the zone ids per region). Pick zones whose ids it supports (`aws ec2 "
            "describe-availability-zones` maps names to ids) and set availability_zones = "
            f"[{', '.join(repr(f'{c.region}{x}') for x in 'abc'[: n.az_count])}] in "
            f"[stages.{c.name}.network] (or -c availabilityZones=...)."
        )
    elif len(n.availability_zones) != n.az_count:
        problems.append(
            f"availabilityZones names {len(n.availability_zones)} zone(s) but stage "
            f"'{c.name}' uses {n.az_count}: pass exactly {n.az_count}, e.g. "
            f"-c availabilityZones={','.join(f'{c.region}{x}' for x in 'abc'[: n.az_count])}."
        )
    wrong = [z for z in n.availability_zones if not re.fullmatch(rf"{c.region}[a-z]", z)]
    if wrong:
        problems.append(
            f"availabilityZones {', '.join(wrong)} not in region {c.region}: "
            f"name zones like {c.region}a."
        )
    if len(set(n.availability_zones)) != len(n.availability_zones):
        problems.append("availabilityZones repeats a zone: name each zone once.")
    if not 0 <= n.nat_gateways <= n.az_count:
        problems.append(
            f"network.nat_gateways={n.nat_gateways}: use 1 (cheaper) up to az_count="
            f"{n.az_count} (one per AZ, survives an AZ outage), or 0 with "
            "interface_endpoints = true (isolated service subnets)."
        )
    elif n.nat_gateways == 0 and not n.interface_endpoints:
        problems.append(
            "network.nat_gateways=0 without interface_endpoints: the relay tasks could not "
            "pull their image, read their secret or ship their logs; set "
            "interface_endpoints = true, or nat_gateways = 1."
        )
    problems += retention_problems("network.flow_log_retention_days", n.flow_log_retention_days)
    return problems


def _cache_problems(c: StageConfig) -> list[str]:
    k = c.cache
    problems = []
    if k.engine not in ("valkey", "redis"):
        problems.append(f"cache.engine={k.engine!r}: use 'valkey' (or 'redis').")
    if not k.cluster_mode and k.shards != 1:
        problems.append(
            f"cache.shards={k.shards} needs cluster mode: pass -c cacheClusterMode=true "
            "(the relay then uses sharded Pub/Sub), or use 1 shard."
        )
    if k.cluster_mode and not 1 <= k.node_count <= MAX_CACHE_NODES:
        problems.append(
            f"cache.shards={k.shards} with {k.replicas_per_shard} replica(s) each is "
            f"{k.node_count} nodes: use 1 or more shards and at most {MAX_CACHE_NODES} nodes "
            "(the default account quota is 90)."
        )
    if k.cluster_mode and not _has_sharded_pubsub(k):
        problems.append(
            f"cache.engine_version={k.engine_version!r}: sharded Pub/Sub (cluster mode) needs "
            "Valkey 7.2+ or Redis OSS 7.0+."
        )
    if not 1 <= k.replicas_per_shard <= 5:
        problems.append(
            f"cache.replicas_per_shard={k.replicas_per_shard}: Multi-AZ failover needs "
            "1 to 5 replicas."
        )
    if k.port == 6379 or not 1024 <= k.port <= 65535:
        problems.append(
            f"cache.port={k.port}: use a non-default port between 1024 and 65535 (not 6379)."
        )
    if not k.node_type.startswith("cache."):
        problems.append(f"cache.node_type={k.node_type!r}: name a node type like cache.t4g.micro.")
    if not 0 <= k.snapshot_retention_days <= 35:
        problems.append(
            f"cache.snapshot_retention_days={k.snapshot_retention_days}: use 0 to 35 days."
        )
    problems += retention_problems("cache.slow_log_retention_days", k.slow_log_retention_days)
    return problems


def _has_sharded_pubsub(k: CacheSettings) -> bool:
    version = tuple(int(part) for part in k.engine_version.split(".")[:2] if part.isdigit())
    return version >= ((7, 2) if k.engine == "valkey" else (7, 0))


def _attachment_problems(c: StageConfig) -> list[str]:
    # One presigned POST carries at most 5 GiB (S3's single-upload limit), the relay's bound.
    largest = ATTACHMENT_MAX_BYTES.high // 2**20
    if not 1 <= c.attachments.max_mb <= largest:
        return [
            f"[stages.{c.name}.attachments] max_mb={c.attachments.max_mb}: use 1 to {largest} "
            "(MiB; one presigned POST uploads at most 5 GiB)."
        ]
    return []


def _monitoring_problems(c: StageConfig) -> list[str]:
    m = c.monitoring
    problems = []
    if not 1 <= m.fanout_p99_threshold_ms <= 60_000:
        problems.append(
            f"monitoring.fanout_p99_threshold_ms={m.fanout_p99_threshold_ms}: use 1 to 60000."
        )
    if m.redis_reconnects_per_minute < 1:
        problems.append("monitoring.redis_reconnects_per_minute: use at least 1.")
    hours = m.zero_clients_hours_utc
    if hours is not None and not 0 <= hours[0] < hours[1] <= 24:
        problems.append(
            f"monitoring.zero_clients_hours_utc={hours}: use (start, end) UTC hours with "
            "0 <= start < end <= 24, e.g. (8, 20), or None for no alarm."
        )
    if not 5 <= m.zero_clients_minutes <= 60:
        problems.append(f"monitoring.zero_clients_minutes={m.zero_clients_minutes}: use 5 to 60.")
    return problems
