"""The stage config's shape: one frozen dataclass per part of a stage, plain data.

Defaults that hold for every stage sit on the fields; what differs per stage is in
stacks/config/defaults.py; the checks are in stacks/config/validation.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from contract import settings
from stacks.config.relay_contract import whole_default
from stacks.config.sign_in import SignInSettings


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
    # The relay's own defaults (contract.settings) for what becomes its environment;
    # stacks/config/relay_contract.py maps each field to its variable.
    log_level: str = settings.LOG_LEVEL.default
    port: int = settings.PORT.default
    ping_interval_seconds: int = whole_default(settings.PING_INTERVAL)
    ping_timeout_seconds: int = whole_default(settings.PING_TIMEOUT)
    join_timeout_seconds: int = whole_default(settings.JOIN_TIMEOUT)
    # The relay spreads its 1012 closes over this window once its target turns `draining`,
    # read from DescribeTargetHealth every drain_poll_seconds (service/deregistration.py).
    drain_seconds: int = whole_default(settings.DRAIN_SECONDS)
    drain_poll_seconds: int = whole_default(settings.DRAIN_POLL_SECONDS)
    # SIGTERM -> SIGKILL: a SIGTERM-only drain (a task stopped by other means) plus margin,
    # under Fargate's 120 s cap.
    stop_timeout_seconds: int = 40
    # A rolling deploy starts replacements before it stops old tasks (never below 100 %
    # running), and has room for at least one extra task while it does.
    min_healthy_percent: int = 100
    max_healthy_percent: int = 200
    history_size: int = settings.HISTORY_SIZE.default
    history_max_len: int = settings.HISTORY_MAX_LEN.default
    # HISTORY_TTL_DAYS: a room's history outlives its last message this long; attachments
    # expire after as many days (stacks/attachments.py).
    history_ttl_days: int = settings.HISTORY_TTL_DAYS.default
    rate_limit: int = whole_default(settings.RATE_LIMIT)
    rate_burst: int = settings.RATE_BURST.default
    max_connections: int = settings.MAX_CONNECTIONS.default
    presence_ttl_seconds: int = whole_default(settings.PRESENCE_TTL)
    # REDIS_PUBLISH_FORMAT: "frame" until no task of a release before it runs, then
    # "compact" (docs/operations.md, upgrading the publish format).
    publish_format: str = settings.REDIS_PUBLISH_FORMAT.default
    # Behind the ALB the client's address is the last X-Forwarded-For entry (1 hop); with it,
    # at most new_identities_per_minute anonymous identities per address (0: no limit; a load
    # test from a few generator tasks would hit any limit, so only prod sets one).
    trusted_proxy_hops: int = settings.TRUSTED_PROXY_HOPS.default
    new_identities_per_minute: int = settings.NEW_IDENTITIES_PER_MINUTE.default
    new_rooms_per_minute: int = settings.NEW_ROOMS_PER_MINUTE.default
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
class ApiSettings:
    """[stages.<stage>.api]: the relay's server HTTP API (`/api/*`) at the load balancer."""

    # Source networks (IPv4 or IPv6 CIDRs) the ALB forwards `/api/*` from: the product
    # backend's egress addresses (its NAT gateways' Elastic IPs). Every other source gets
    # 403 from the ALB; empty (the default) turns the API off at the ALB. The web ACL
    # still inspects these requests, and the relay still wants an API key.
    allow_cidrs: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.allow_cidrs)


@dataclass(frozen=True)
class AttachmentSettings:
    """[stages.<stage>.attachments]: file attachments on S3, scanned by GuardDuty Malware
    Protection for S3 (stacks/attachments.py; reasons in docs/infrastructure.md)."""

    # Off: no bucket, no scan, no queue; the relay then keeps attachments in a folder of
    # its own task (lost with the task, unscanned), so a stage without them should say so.
    enabled: bool = True
    # ATTACHMENT_MAX_BYTES in MiB: the largest file a member may upload (the presigned
    # POST's content-length-range); GuardDuty bills per GB scanned.
    max_mb: int = settings.ATTACHMENT_MAX_BYTES.default // 2**20


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
class StageIdentity:
    """What every stack needs to know of its stage: names, region, whether data is kept."""

    name: str
    # Resource-name prefix, unique per stage within an account and region.
    prefix: str
    region: str
    # prod keeps data (log groups, KMS keys, a final cache snapshot) when a stack is deleted.
    retain_data: bool


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
    api: ApiSettings = field(default_factory=ApiSettings)
    attachments: AttachmentSettings = field(default_factory=AttachmentSettings)

    @property
    def prefix(self) -> str:
        """Resource-name prefix, unique per stage within an account and region."""
        return f"chat-relay-{self.name}"

    @property
    def identity(self) -> StageIdentity:
        return StageIdentity(self.name, self.prefix, self.region, self.retain_data)
