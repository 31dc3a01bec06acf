"""Stage settings: one typed config per stage, with defaults in one place.

`load_stage_config` is the only reader of CDK context and environment variables; every
stack and construct receives a `StageConfig` (or a part of it) as props. A wrong or
missing setting raises `StageConfigError`, whose message names each bad setting and
how to fix it, so `cdk synth` fails before any construct is created.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks.settings_file import STAGE_KEYS, STAGE_SECTIONS, SettingsFile, apply_table
from stacks.sign_in_settings import SignInSettings, sign_in_problems

STAGES = ("dev", "staging", "prod")

# Context keys a platform engineer may pass with `-c key=value` (or put in cdk.json).
CONTEXT_STAGE = "stage"
# Another settings file than the shipped stages.toml (a path, relative to the repository).
CONTEXT_SETTINGS_FILE = "settingsFile"
CONTEXT_ACCOUNT = "account"
CONTEXT_REGION = "region"
CONTEXT_CERTIFICATE_ARN = "certificateArn"
CONTEXT_DOMAIN_NAME = "domainName"
CONTEXT_ALARM_EMAIL = "alarmEmail"
CONTEXT_AVAILABILITY_ZONES = "availabilityZones"
# Cache topology overrides: cluster mode on or off, shards, replicas per shard.
CONTEXT_CACHE_CLUSTER_MODE = "cacheClusterMode"
CONTEXT_CACHE_SHARDS = "cacheShards"
CONTEXT_CACHE_REPLICAS = "cacheReplicasPerShard"
CONTEXT_KEYS = (
    CONTEXT_STAGE,
    CONTEXT_SETTINGS_FILE,
    CONTEXT_ACCOUNT,
    CONTEXT_REGION,
    CONTEXT_CERTIFICATE_ARN,
    CONTEXT_DOMAIN_NAME,
    CONTEXT_ALARM_EMAIL,
    CONTEXT_AVAILABILITY_ZONES,
    CONTEXT_CACHE_CLUSTER_MODE,
    CONTEXT_CACHE_SHARDS,
    CONTEXT_CACHE_REPLICAS,
)

# ElastiCache's hard limit on nodes (primaries plus replicas) in one cluster-mode group;
# the default account quota is 90 and AWS raises it on request.
MAX_CACHE_NODES = 500

# Offline synth (tests, CI, a laptop without AWS credentials) needs a concrete region for
# the ALB access-log bucket policy and the AZ names; the account may stay unresolved.
DEFAULT_REGION = "us-east-1"

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)

# Fargate task architectures; Fargate Spot runs only X86_64 tasks (AWS docs, cited in
# docs/infrastructure.md), so a Spot share needs x86_64.
CPU_ARCHITECTURES = ("arm64", "x86_64")
# AWS WAF rate-based rules: the evaluation windows it offers and its lowest limit.
WAF_EVALUATION_WINDOWS = (60, 120, 300, 600)
WAF_RATE_ACTIONS = ("block", "count")
WAF_MIN_RATE_LIMIT = 10

# Fargate refuses a container stopTimeout above 120 seconds.
FARGATE_MAX_STOP_TIMEOUT = 120
# What the drain timings leave over (see _drain_timing_problems): the last 1012 close
# handshakes, one slow DescribeTargetHealth call, a SIGTERM drain's presence removal.
DRAIN_MARGIN_SECONDS = 5

# Valid Fargate (cpu units -> memory MiB) combinations, the small end of the table.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: (2048, 3072, 4096, 5120, 6144, 7168, 8192),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_CERTIFICATE_ARN = re.compile(
    r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):(\d{12}):certificate/[0-9a-f-]{36}$"
)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class StageConfigError(ValueError):
    """A stage setting is wrong or missing; the message says which and how to fix it."""


@dataclass(frozen=True)
class NetworkSettings:
    cidr: str
    az_count: int
    nat_gateways: int
    flow_log_retention_days: int
    # Interface endpoints (ECR api/dkr, CloudWatch Logs, Secrets Manager, ELB) in the service
    # subnets: the relay reaches AWS without NAT. With nat_gateways = 0 the service
    # subnets are isolated (no route out) and the endpoints are the only way to AWS.
    interface_endpoints: bool = False
    # Filled from the region (or -c availabilityZones) by load_stage_config; naming the AZs
    # avoids an AZ lookup, so synth needs no AWS credentials.
    availability_zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class CacheSettings:
    node_type: str
    replicas_per_shard: int
    snapshot_retention_days: int
    # Cluster mode enabled: the keyspace is split over `shards` primaries (each with
    # `replicas_per_shard` replicas), the relay connects to the configuration endpoint
    # and fans out with sharded Pub/Sub. Off: one primary, `shards` must be 1.
    cluster_mode: bool = False
    shards: int = 1
    engine: str = "valkey"
    engine_version: str = "8.1"
    # Not the well-known 6379: scanners and copy-pasted defaults miss it (AwsSolutions-AEC5).
    port: int = 6380
    slow_log_retention_days: int = 30

    @property
    def parameter_group_family(self) -> str:
        return f"{self.engine}{self.engine_version.split('.')[0]}"

    @property
    def nodes_per_shard(self) -> int:
        return 1 + self.replicas_per_shard

    @property
    def node_count(self) -> int:
        return self.shards * self.nodes_per_shard


@dataclass(frozen=True)
class LoadBalancerSettings:
    deletion_protection: bool
    access_log_retention_days: int
    # Set per stage from context; None serves plain HTTP (dev only).
    certificate_arn: str | None = None
    domain_name: str | None = None
    # WebSocket frames reset the ALB idle timer; the relay pings every PING_INTERVAL, so
    # 120 s tolerates five lost pings before the ALB cuts a quiet connection.
    idle_timeout_seconds: int = 120
    # ECS deregisters a task, waits this long (the ALB then cuts what is still open), and
    # only then sends SIGTERM. The relay drains inside it (relay.drain_poll_seconds +
    # relay.drain_seconds + margin); ELB ends it early once nothing is left open.
    deregistration_delay_seconds: int = 30
    # Load-balancer cookie: a client that reconnects within 10 min (network blip, 1012)
    # returns to the same task; short so that new tasks after a scale-out fill up quickly.
    stickiness_seconds: int = 600
    health_check_path: str = "/healthz"

    @property
    def https(self) -> bool:
        return self.certificate_arn is not None


@dataclass(frozen=True)
class RelaySettings:
    cpu: int
    memory_mib: int
    min_tasks: int
    max_tasks: int
    cpu_target_percent: int
    connections_target_per_task: int
    log_retention_days: int
    log_level: str = "info"
    port: int = 8000
    ping_interval_seconds: int = 20
    ping_timeout_seconds: int = 20
    join_timeout_seconds: int = 10
    # The relay spreads its 1012 closes over this window once its target turns `draining`,
    # read from DescribeTargetHealth every drain_poll_seconds (service/deregistration.py).
    drain_seconds: int = 20
    drain_poll_seconds: int = 5
    # SIGTERM -> SIGKILL: a SIGTERM-only drain (a task stopped by other means) plus margin,
    # under Fargate's 120 s cap.
    stop_timeout_seconds: int = 40
    # A rolling deploy starts replacements before it stops old tasks (never below 100 %
    # running), and has room for at least one extra task while it does.
    min_healthy_percent: int = 100
    max_healthy_percent: int = 200
    history_size: int = 100
    history_max_len: int = 1000
    rate_limit: int = 10
    rate_burst: int = 20
    max_connections: int = 10000
    presence_ttl_seconds: int = 30
    # Scale out fast, scale in slowly: each removed task drops its sockets.
    scale_out_cooldown_seconds: int = 60
    scale_in_cooldown_seconds: int = 900
    # Graviton (arm64) costs ~20% less per task than x86_64; Fargate Spot needs x86_64.
    cpu_architecture: str = "arm64"
    # Share of tasks (beyond on_demand_base) on FARGATE_SPOT, in percent: 0 is all FARGATE.
    spot_percent: int = 0
    # Tasks always on FARGATE before the split applies (a floor Spot reclaims cannot touch).
    on_demand_base: int = 0


@dataclass(frozen=True)
class WafSettings:
    """The AWS WAF web ACL in front of the ALB (stacks/waf.py; reasons in
    docs/infrastructure.md)."""

    enabled: bool = True
    # WebSocket upgrades (GET /ws) per client IP per evaluation window; more are blocked
    # (403) until the rate falls. A browser opens one socket and reconnects with backoff.
    upgrade_rate_limit: int = 300
    evaluation_window_seconds: int = 60
    # "block" the addresses over the rate, or only "count" them (metrics and logs, no
    # 403): staging counts, since the pipeline's load-test gate connects 2,000 clients from
    # one CodeBuild address that is not fixed, so it cannot be put on allow_cidrs.
    upgrade_rate_action: str = "block"
    # CIDRs (IPv4) whose requests skip every rule: the load generators' addresses, so a
    # load test from a few source IPs is not rate-limited as an upgrade flood.
    allow_cidrs: tuple[str, ...] = ()
    log_retention_days: int = 30


@dataclass(frozen=True)
class MonitoringSettings:
    """Alarm thresholds on the relay's own metrics (reasons in docs/operations.md)."""

    # The capacity target (docs/benchmarks.md) keeps fan-out p99 under 250 ms at full load.
    fanout_p99_threshold_ms: int = 250
    # Subscriber reconnects per minute over the service: a failover costs one per task, a
    # sustained rate means Redis keeps dropping the relays.
    redis_reconnects_per_minute: int = 10
    # UTC hours [start, end) in which nobody connected is an incident; None: no such alarm.
    zero_clients_hours_utc: tuple[int, int] | None = None
    zero_clients_minutes: int = 15


@dataclass(frozen=True)
class StageConfig:
    name: str
    region: str
    account: str | None
    network: NetworkSettings
    cache: CacheSettings
    load_balancer: LoadBalancerSettings
    relay: RelaySettings
    # prod keeps data (log groups, KMS keys, a final cache snapshot) when a stack is deleted.
    retain_data: bool
    alarm_email: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    # none (anonymous), cognito or oidc: who signs people in at the load balancer.
    sign_in: SignInSettings = field(default_factory=SignInSettings)
    waf: WafSettings = field(default_factory=WafSettings)

    @property
    def prefix(self) -> str:
        """Resource-name prefix, unique per stage within an account and region."""
        return f"chat-relay-{self.name}"


_DEFAULTS: dict[str, StageConfig] = {
    "dev": StageConfig(
        name="dev",
        region=DEFAULT_REGION,
        account=None,
        # One NAT ($37/month with its IPv4) is cheaper than five interface endpoints in two
        # AZs ($73).
        network=NetworkSettings(
            cidr="10.40.0.0/16", az_count=2, nat_gateways=1, flow_log_retention_days=7
        ),
        cache=CacheSettings(
            node_type="cache.t4g.micro", replicas_per_shard=1, snapshot_retention_days=1
        ),
        load_balancer=LoadBalancerSettings(deletion_protection=False, access_log_retention_days=14),
        relay=RelaySettings(
            cpu=256,
            memory_mib=512,
            min_tasks=2,
            max_tasks=4,
            cpu_target_percent=60,
            connections_target_per_task=1000,
            log_retention_days=7,
            log_level="debug",
            # Spot is ~70% off and dev tolerates a reclaimed task; Spot runs only x86_64.
            cpu_architecture="x86_64",
            spot_percent=100,
        ),
        retain_data=False,
        # No users to protect; a web ACL costs ~$10/month before requests.
        waf=WafSettings(enabled=False),
    ),
    "staging": StageConfig(
        name="staging",
        region=DEFAULT_REGION,
        account=None,
        network=NetworkSettings(
            cidr="10.41.0.0/16",
            az_count=2,
            # The relay reaches AWS as in prod (a missing endpoint fails here first); the
            # NAT stays for the load generators, which connect to the stage's public URL.
            nat_gateways=1,
            flow_log_retention_days=14,
            interface_endpoints=True,
        ),
        # Same node and task size as prod, so load tests measure what prod will do.
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
        waf=WafSettings(upgrade_rate_action="count"),
    ),
    "prod": StageConfig(
        name="prod",
        region=DEFAULT_REGION,
        account=None,
        network=NetworkSettings(
            cidr="10.42.0.0/16",
            az_count=3,
            # Five endpoints in 3 AZs cost what 3 NAT gateways with their IPv4 do ($110),
            # with less per GB, and the tasks get no route to the internet at all.
            nat_gateways=0,
            flow_log_retention_days=90,
            interface_endpoints=True,
        ),
        cache=CacheSettings(
            node_type="cache.m7g.large", replicas_per_shard=2, snapshot_retention_days=7
        ),
        load_balancer=LoadBalancerSettings(deletion_protection=True, access_log_retention_days=90),
        relay=RelaySettings(
            cpu=1024,
            memory_mib=2048,
            min_tasks=3,
            max_tasks=20,
            cpu_target_percent=60,
            connections_target_per_task=4000,
            log_retention_days=90,
        ),
        retain_data=True,
        waf=WafSettings(log_retention_days=90),
        # Only prod has users to miss; dev and staging sit at zero clients by design.
        monitoring=MonitoringSettings(zero_clients_hours_utc=(8, 20)),
    ),
}


def default_config(stage: str) -> StageConfig:
    """The checked-in defaults for a stage, before context and environment."""
    if stage not in _DEFAULTS:
        raise StageConfigError(_unknown_stage(stage))
    return _DEFAULTS[stage]


def load_stage_config(
    context: Mapping[str, Any],
    environ: Mapping[str, str],
    settings: SettingsFile | None = None,
) -> StageConfig:
    """Build the stage's config: defaults, then the settings file, then CDK context.

    `settings` is the parsed stages.toml (None: the defaults alone). Context (`-c
    key=value`) overrides it: `stage`, `account`, `region`, `certificateArn`, `domainName`,
    `alarmEmail`, `availabilityZones`, `cacheClusterMode`, `cacheShards`,
    `cacheReplicasPerShard`. `CDK_DEFAULT_ACCOUNT` / `CDK_DEFAULT_REGION` (the CLI's
    credentials) fill in only what neither pins: a stage pinned to an account never
    follows whichever credentials happen to be active.
    """
    stage = _text(context.get(CONTEXT_STAGE))
    if stage is None:
        raise StageConfigError(
            "No stage selected: pass -c stage=dev|staging|prod to cdk "
            "(or STAGE=dev|staging|prod to make)."
        )
    config = default_config(stage)
    pinned: Mapping[str, Any] = {}
    if settings is not None:
        config = apply_settings_file(config, settings)
        pinned = settings.stage(stage)

    region = (
        _text(context.get(CONTEXT_REGION))
        or pinned.get("region")
        or _text(environ.get("CDK_DEFAULT_REGION"))
        or config.region
    )
    account = (
        _text(context.get(CONTEXT_ACCOUNT))
        or pinned.get("account")
        or _text(environ.get("CDK_DEFAULT_ACCOUNT"))
        or config.account
    )
    zones_text = _text(context.get(CONTEXT_AVAILABILITY_ZONES))
    if zones_text is not None:
        zones = tuple(z.strip() for z in zones_text.split(",") if z.strip())
    elif config.network.availability_zones:
        zones = config.network.availability_zones
    else:
        zones = tuple(f"{region}{letter}" for letter in "abcdef"[: config.network.az_count])

    lb = config.load_balancer
    config = dataclasses.replace(
        config,
        region=region,
        account=account,
        alarm_email=_text(context.get(CONTEXT_ALARM_EMAIL)) or config.alarm_email,
        network=dataclasses.replace(config.network, availability_zones=zones),
        cache=_cache_overrides(config.cache, context),
        load_balancer=dataclasses.replace(
            lb,
            certificate_arn=_text(context.get(CONTEXT_CERTIFICATE_ARN)) or lb.certificate_arn,
            domain_name=_text(context.get(CONTEXT_DOMAIN_NAME)) or lb.domain_name,
        ),
    )
    validate(config, source=settings.path.name if settings is not None else None)
    return config


def apply_settings_file(config: StageConfig, settings: SettingsFile) -> StageConfig:
    """`config` with the file's [stages.<stage>] table and its sections laid over it."""
    table = settings.stage(config.name)
    where = settings.where("stages", config.name)
    problems = [
        f"{where} {key}: unknown key; valid keys are {', '.join(STAGE_KEYS)} and the "
        f"sections [{'], ['.join(f'stages.{config.name}.{s}' for s in STAGE_SECTIONS)}]."
        for key in table
        if key not in STAGE_KEYS and key not in STAGE_SECTIONS
    ]
    own = {k: v for k, v in table.items() if k in STAGE_KEYS and k not in _LB_KEYS}
    config, found = apply_table(config, own, where)
    problems += found
    changes: dict[str, Any] = {}
    for section in STAGE_SECTIONS:
        values = dict(table.get(section, {})) if isinstance(table.get(section), dict) else {}
        if section in table and not isinstance(table[section], dict):
            problems.append(
                f"{where} {section}: expected a table [stages.{config.name}.{section}]."
            )
        if section == "load_balancer":
            values |= {k: v for k, v in table.items() if k in _LB_KEYS}
        if values:
            changes[section], found = apply_table(
                getattr(config, section), values, settings.where("stages", config.name, section)
            )
            problems += found
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise StageConfigError(f"Invalid settings file for stage '{config.name}':\n{lines}")
    return dataclasses.replace(config, **changes)


# Set at the top of [stages.<stage>] (where a platform engineer looks for them), kept in
# LoadBalancerSettings.
_LB_KEYS = ("domain_name", "certificate_arn")


def _cache_overrides(cache: CacheSettings, context: Mapping[str, Any]) -> CacheSettings:
    """The stage's cache settings with the -c cacheClusterMode/Shards/Replicas overrides.

    Turning cluster mode on without naming shards keeps the stage's shard count (1): a
    one-shard cluster that can be resharded online later.
    """
    problems = []
    changes: dict[str, Any] = {}
    for key, name, parse, example in (
        (CONTEXT_CACHE_CLUSTER_MODE, "cluster_mode", _context_bool, "true"),
        (CONTEXT_CACHE_SHARDS, "shards", _context_int, "3"),
        (CONTEXT_CACHE_REPLICAS, "replicas_per_shard", _context_int, "1"),
    ):
        text = _text(context.get(key))
        if text is None:
            continue
        try:
            changes[name] = parse(text)
        except ValueError as error:
            problems.append(f"{key}={text!r} {error}: pass e.g. -c {key}={example}.")
    if problems:
        raise StageConfigError("Invalid context:\n" + "\n".join(f"  - {p}" for p in problems))
    return dataclasses.replace(cache, **changes)


def _context_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise ValueError("is not true or false")


def _context_int(text: str) -> int:
    if not text.isdigit():
        raise ValueError("is not a whole number")
    return int(text)


def validate(config: StageConfig, *, source: str | None = None) -> None:
    """Raise StageConfigError listing every problem in `config`, each with its fix.

    `source` names the settings file the values came from, for the message's heading.
    """
    problems = [*_environment_problems(config), *_network_problems(config)]
    problems += [*_cache_problems(config), *_load_balancer_problems(config)]
    problems += [*_relay_problems(config), *_monitoring_problems(config)]
    problems += sign_in_problems(
        config.sign_in,
        stage=config.name,
        https=config.load_balancer.https,
        domain_name=config.load_balancer.domain_name,
    )
    problems += _drain_timing_problems(config)
    problems += _waf_problems(config)
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
    if len(n.availability_zones) != n.az_count:
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
    problems += _retention_problems("network.flow_log_retention_days", n.flow_log_retention_days)
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
    problems += _retention_problems("cache.slow_log_retention_days", k.slow_log_retention_days)
    return problems


def _has_sharded_pubsub(k: CacheSettings) -> bool:
    version = tuple(int(part) for part in k.engine_version.split(".")[:2] if part.isdigit())
    return version >= ((7, 2) if k.engine == "valkey" else (7, 0))


def _load_balancer_problems(c: StageConfig) -> list[str]:
    lb = c.load_balancer
    r = c.relay
    problems = []
    if lb.certificate_arn is None and c.name != "dev":
        problems.append(
            f"certificate_arn is missing: stage '{c.name}' serves HTTPS only. Set "
            f'certificate_arn = "arn:aws:acm:{c.region}:<account>:certificate/<id>" in '
            f"[stages.{c.name}] of stages.toml, or pass -c certificateArn=arn:aws:acm:... "
            "(an ACM certificate in the stack's region)."
        )
    if lb.certificate_arn is not None:
        match = _CERTIFICATE_ARN.match(lb.certificate_arn)
        if match is None:
            problems.append(
                f"certificate_arn {lb.certificate_arn!r} is not an ACM certificate ARN: "
                "copy it from `aws acm list-certificates`."
            )
        elif match.group(1) != c.region:
            problems.append(
                f"certificate_arn is in {match.group(1)} but the stack deploys to {c.region}: "
                "an ALB needs a certificate from its own region."
            )
        elif c.account is not None and match.group(2) != c.account:
            problems.append(
                f"certificate_arn belongs to account {match.group(2)} but stage '{c.name}' "
                f"deploys to {c.account}: an ALB can use only a certificate of its own "
                "account; request or import it there."
            )
    if lb.domain_name is not None and not _DOMAIN.match(lb.domain_name):
        problems.append(
            f"domain_name {lb.domain_name!r} is not a lower-case DNS name: set domain_name "
            f'= "chat.example.com" in [stages.{c.name}] (or -c domainName=...).'
        )
    if lb.domain_name is not None and lb.certificate_arn is None:
        problems.append(
            "domain_name needs certificate_arn: the relay's origin is https://<domain>; set "
            f"both in [stages.{c.name}]."
        )
    if lb.idle_timeout_seconds < 2 * r.ping_interval_seconds or lb.idle_timeout_seconds > 4000:
        problems.append(
            f"load_balancer.idle_timeout_seconds={lb.idle_timeout_seconds}: use at least twice "
            f"the relay's ping interval ({2 * r.ping_interval_seconds} s) and at most 4000 s."
        )
    if not 1 <= lb.stickiness_seconds <= 604800:
        problems.append(
            f"load_balancer.stickiness_seconds={lb.stickiness_seconds}: use 1 s to 7 days."
        )
    if lb.health_check_path not in ("/healthz", "/readyz"):
        problems.append(
            f"load_balancer.health_check_path={lb.health_check_path!r}: use /healthz or /readyz."
        )
    problems += _retention_problems(
        "load_balancer.access_log_retention_days", lb.access_log_retention_days, any_days=True
    )
    return problems


def _relay_problems(c: StageConfig) -> list[str]:
    r = c.relay
    problems = []
    if r.memory_mib not in FARGATE_SIZES.get(r.cpu, ()):
        problems.append(
            f"relay.cpu={r.cpu} with relay.memory_mib={r.memory_mib} is not a Fargate size: "
            f"valid cpu values are {sorted(FARGATE_SIZES)}, each with its memory range."
        )
    if r.min_tasks < 2:
        problems.append(f"relay.min_tasks={r.min_tasks}: run at least 2 tasks across AZs.")
    if r.max_tasks < r.min_tasks:
        problems.append(f"relay.max_tasks={r.max_tasks} is below relay.min_tasks={r.min_tasks}.")
    if not 10 <= r.cpu_target_percent <= 90:
        problems.append(f"relay.cpu_target_percent={r.cpu_target_percent}: use 10 to 90.")
    if not 1 <= r.connections_target_per_task <= r.max_connections:
        problems.append(
            f"relay.connections_target_per_task={r.connections_target_per_task}: use 1 to "
            f"relay.max_connections ({r.max_connections})."
        )
    if r.scale_in_cooldown_seconds < r.scale_out_cooldown_seconds:
        problems.append("relay.scale_in_cooldown_seconds must be at least the scale-out cooldown.")
    if r.log_level not in ("debug", "info", "warning", "error"):
        problems.append(f"relay.log_level={r.log_level!r}: use debug, info, warning or error.")
    problems += _retention_problems("relay.log_retention_days", r.log_retention_days)
    if r.cpu_architecture not in CPU_ARCHITECTURES:
        problems.append(
            f'relay.cpu_architecture={r.cpu_architecture!r}: use "arm64" (Graviton) or "x86_64".'
        )
    if not 0 <= r.spot_percent <= 100:
        problems.append(f"relay.spot_percent={r.spot_percent}: use 0 (no Spot) to 100.")
    elif r.spot_percent > 0 and r.cpu_architecture != "x86_64":
        problems.append(
            f"relay.spot_percent={r.spot_percent} with cpu_architecture = "
            f"{r.cpu_architecture!r}: Fargate Spot runs only x86_64 tasks; set "
            'cpu_architecture = "x86_64" or spot_percent = 0.'
        )
    if not 0 <= r.on_demand_base <= r.max_tasks:
        problems.append(
            f"relay.on_demand_base={r.on_demand_base}: use 0 to relay.max_tasks ({r.max_tasks})."
        )
    return problems


def _waf_problems(c: StageConfig) -> list[str]:
    w = c.waf
    problems = []
    if w.upgrade_rate_limit < WAF_MIN_RATE_LIMIT:
        problems.append(
            f"waf.upgrade_rate_limit={w.upgrade_rate_limit}: AWS WAF's lowest rate limit is "
            f"{WAF_MIN_RATE_LIMIT} requests per window; e.g. upgrade_rate_limit = 300."
        )
    if w.evaluation_window_seconds not in WAF_EVALUATION_WINDOWS:
        problems.append(
            f"waf.evaluation_window_seconds={w.evaluation_window_seconds}: AWS WAF accepts "
            f"{', '.join(map(str, WAF_EVALUATION_WINDOWS))}."
        )
    if w.upgrade_rate_action not in WAF_RATE_ACTIONS:
        problems.append(
            f'waf.upgrade_rate_action={w.upgrade_rate_action!r}: use "block" (403 over the '
            'rate) or "count" (metrics and logs only).'
        )
    for cidr in w.allow_cidrs:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            problems.append(
                f"waf.allow_cidrs {cidr!r} is not an IPv4 network: write it like "
                '"203.0.113.7/32" (one address) or "198.51.100.0/24", host bits zero.'
            )
            continue
        if network.prefixlen < 8:
            problems.append(
                f"waf.allow_cidrs {cidr!r}: AWS WAF IP sets take /1 to /32 but a network this "
                "wide lets most of the internet skip the web ACL; list the load generators' "
                "own addresses (/8 or narrower)."
            )
    problems += _retention_problems("waf.log_retention_days", w.log_retention_days)
    return problems


def _drain_timing_problems(c: StageConfig) -> list[str]:
    """The order of a task's stop, and the one place its timings are checked together.

    ECS deregisters the task (the ALB sends it no new connections and keeps the open ones),
    waits the deregistration delay, cuts what is still open, then sends SIGTERM and, after
    stopTimeout, SIGKILL. The relay notices `draining` within drain_poll_seconds and closes
    its clients with 1012 over drain_seconds, so the delay must hold both plus a margin or
    the ALB cuts clients mid-drain. stopTimeout bounds a SIGTERM-only drain (half of
    drain_seconds for closes, then presence removal and exit). A deploy never goes
    below 100 % running tasks and can start at least one replacement at a time.
    """
    lb, r = c.load_balancer, c.relay
    problems = []
    needed = r.drain_poll_seconds + r.drain_seconds + DRAIN_MARGIN_SECONDS
    if not needed <= lb.deregistration_delay_seconds <= 3600:
        problems.append(
            f"load_balancer.deregistration_delay_seconds={lb.deregistration_delay_seconds}: "
            f"the ALB would cut clients before the relay moved them; use {needed} to 3600 s "
            f"(relay.drain_poll_seconds {r.drain_poll_seconds} + relay.drain_seconds "
            f"{r.drain_seconds} + {DRAIN_MARGIN_SECONDS} s margin), or shorten the drain."
        )
    if not 1 <= r.drain_poll_seconds <= 60:
        problems.append(
            f"relay.drain_poll_seconds={r.drain_poll_seconds}: use 1 to 60 s "
            "(each task calls DescribeTargetHealth once per poll)."
        )
    if not 1 <= r.drain_seconds <= 110:
        problems.append(f"relay.drain_seconds={r.drain_seconds}: use 1 to 110 s.")
    # The relay exits within drain_seconds plus uvicorn's last 30 % of it (service/__main__.py).
    stop_needed = r.drain_seconds + 2 * DRAIN_MARGIN_SECONDS
    if not stop_needed <= r.stop_timeout_seconds <= FARGATE_MAX_STOP_TIMEOUT:
        problems.append(
            f"relay.stop_timeout_seconds={r.stop_timeout_seconds}: a SIGTERM drain needs "
            f"relay.drain_seconds ({r.drain_seconds} s) + {2 * DRAIN_MARGIN_SECONDS} s before "
            f"SIGKILL; use {stop_needed} to Fargate's {FARGATE_MAX_STOP_TIMEOUT} s."
        )
    if r.min_healthy_percent < 100:
        problems.append(
            f"relay.min_healthy_percent={r.min_healthy_percent}: use 100, so a deploy starts "
            "each replacement before it stops an old task and the remaining tasks never "
            "have to hold the stopped ones' clients."
        )
    room = r.min_tasks * r.max_healthy_percent // 100 - r.min_tasks
    if room < 1:
        problems.append(
            f"relay.max_healthy_percent={r.max_healthy_percent}: with relay.min_tasks="
            f"{r.min_tasks} a deploy could start no replacement; use at least "
            f"{-(-100 * (r.min_tasks + 1) // r.min_tasks)} (200 replaces all tasks at once)."
        )
    return problems


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


def _retention_problems(name: str, days: int, *, any_days: bool = False) -> list[str]:
    if any_days:
        return [] if days >= 1 else [f"{name}={days}: use at least 1 day."]
    if days in LOG_RETENTION_DAYS:
        return []
    return [
        f"{name}={days}: CloudWatch Logs accepts only {', '.join(map(str, LOG_RETENTION_DAYS))}."
    ]


def _unknown_stage(stage: str) -> str:
    return f"Unknown stage {stage!r}: pass -c stage={'|'.join(STAGES)}."


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
