"""Cache: an ElastiCache for Valkey replication group, the relay's pub/sub and history.

Valkey 8.1 (not Redis OSS 7.1): the same protocol, commands and client library, on an
engine AWS prices about 20% below Redis OSS per node, with the newer I/O threading.
One shard of a primary plus replicas spread over the AZs (or, with cluster mode enabled,
N such shards behind a configuration endpoint), Multi-AZ with automatic failover, TLS
required, IAM authentication of an RBAC user (no password or token exists: see
stacks/cache_users.py), encrypted at rest with a customer-managed key, on isolated subnets,
logs to CloudWatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from aws_cdk import CfnDeletionPolicy, CfnOutput, CfnUpdatePolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from constructs import Construct

from stacks.cache_users import cache_users, relay_user_id
from stacks.compliance import acknowledge_nag
from stacks.config import CacheSettings, StageIdentity
from stacks.log_groups import encrypted_log_group, logs_key
from stacks.network import CACHE_SUBNETS
from stacks.stage_stack import StageStack


@dataclass(frozen=True)
class CacheProps:
    """What the cache stack reads of its stage, and where in the network it lives."""

    stage: StageIdentity
    settings: CacheSettings
    vpc: ec2.IVpc
    security_group: ec2.ISecurityGroup


@dataclass(frozen=True)
class CacheAccess:
    """What a client of the cache needs: where it is and how it signs in."""

    # The relay's REDIS_URL: TLS (`rediss`), no credentials in it.
    redis_url: str
    # Cluster mode: the client connects to the configuration endpoint and finds the shards.
    cluster: bool
    # IAM authentication: the IAM-enabled user, and the replication group id the relay
    # signs its tokens for (and is allowed to elasticache:Connect to).
    iam_user_id: str
    replication_group_id: str


class CacheStack(StageStack):
    def __init__(self, scope: Construct, construct_id: str, props: CacheProps) -> None:
        super().__init__(
            scope,
            construct_id,
            stage=props.stage,
            summary="Valkey replication group and its IAM-authenticated user",
        )
        stage, settings = props.stage, props.settings
        vpc, security_group = props.vpc, props.security_group
        self.settings = settings
        # The replication group's id, which names its nodes (and their metrics).
        self.group_id = stage.prefix

        self.key = logs_key(self, "CacheKey", stage, "cache at rest, cache logs")
        self.users = cache_users(self, stage)
        self.relay_user_id = relay_user_id(stage)

        subnet_group = elasticache.CfnSubnetGroup(
            self,
            "SubnetGroup",
            cache_subnet_group_name=stage.prefix,
            description=f"{stage.prefix}: isolated subnets, no route out",
            # By name: with nat_gateways = 0 the relay's subnets are isolated too.
            subnet_ids=vpc.select_subnets(subnet_group_name=CACHE_SUBNETS).subnet_ids,
        )

        parameter_group = elasticache.CfnParameterGroup(
            self,
            # ElastiCache will not flip `cluster-enabled` on a group in use: a new logical id
            # per mode makes CloudFormation create the other group and switch to it.
            "ClusterParameterGroup" if settings.cluster_mode else "ParameterGroup",
            cache_parameter_group_family=settings.parameter_group_family,
            description=f"{stage.prefix}: relay cache parameters",
            properties=cache_parameters(settings),
        )

        self.log_groups = {
            log_type: encrypted_log_group(
                self,
                f"{title}LogGroup",
                stage,
                retention_days=settings.slow_log_retention_days,
                key=self.key,
            )
            for log_type, title in (("slow-log", "SlowLog"), ("engine-log", "EngineLog"))
        }

        self.replication_group = elasticache.CfnReplicationGroup(
            self,
            "ReplicationGroup",
            replication_group_id=self.group_id,
            replication_group_description=f"{stage.prefix}: relay pub/sub, history, presence",
            engine=settings.engine,
            engine_version=settings.engine_version,
            cache_node_type=settings.node_type,
            cache_parameter_group_name=parameter_group.ref,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[security_group.security_group_id],
            port=settings.port,
            multi_az_enabled=True,
            automatic_failover_enabled=True,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            kms_key_id=self.key.key_arn,
            # RBAC instead of an AUTH token: only the group's users get in, the relay's by
            # IAM authentication (which needs the in-transit encryption required above).
            user_group_ids=[self.users.group_id],
            auto_minor_version_upgrade=True,
            snapshot_retention_limit=settings.snapshot_retention_days,
            snapshot_window="03:00-04:00",
            preferred_maintenance_window="sun:04:30-sun:05:30",
            log_delivery_configurations=[
                elasticache.CfnReplicationGroup.LogDeliveryConfigurationRequestProperty(
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type=log_type,
                    destination_details=elasticache.CfnReplicationGroup.DestinationDetailsProperty(
                        cloud_watch_logs_details=elasticache.CfnReplicationGroup.CloudWatchLogsDestinationDetailsProperty(
                            log_group=group.log_group_name
                        )
                    ),
                )
                for log_type, group in self.log_groups.items()
            ],
            **topology_properties(settings),
        )
        self.replication_group.add_dependency(self.users.group)
        acknowledge_nag(
            self.replication_group,
            "AwsSolutions-AEC6",
            "No AUTH token by design: the group authenticates RBAC users (UserGroupIds), "
            "the relay's by IAM with a 15-minute token per connection, so no long-lived "
            "secret exists; the rule only looks for the AuthToken property.",
        )
        acknowledge_nag(
            self.replication_group,
            "NIST.800.53.R5-ElastiCacheRedisClusterAutomaticBackup",
            "Daily snapshots are kept 1 day (dev, staging) or 7 days (prod), not 15: chat "
            "history itself expires after HISTORY_TTL_DAYS (7), so older snapshots would keep "
            "messages the design deletes.",
        )
        if settings.cluster_mode:
            # A NumNodeGroups change reshards online (slots move, clients stay connected);
            # without this policy CloudFormation would replace the group, which its fixed
            # ReplicationGroupId forbids (docs/infrastructure.md, "Settings changes").
            self.replication_group.cfn_options.update_policy = CfnUpdatePolicy(
                use_online_resharding=True
            )
        CfnOutput(self, "ReplicationGroupId", value=self.replication_group.ref)
        CfnOutput(self, "RelayUserId", value=self.users.relay.user_id)
        if stage.retain_data:
            # Deleting the stack leaves a final snapshot of the chat history behind.
            self.replication_group.cfn_options.deletion_policy = CfnDeletionPolicy.SNAPSHOT
            self.replication_group.cfn_options.update_replace_policy = CfnDeletionPolicy.SNAPSHOT

    @property
    def endpoint_address(self) -> str:
        """Where clients connect: the primary endpoint, or in cluster mode the
        configuration endpoint, from which the client discovers every shard."""
        if self.settings.cluster_mode:
            return self.replication_group.attr_configuration_end_point_address
        return self.replication_group.attr_primary_end_point_address

    @property
    def redis_url(self) -> str:
        """The relay's REDIS_URL: TLS (`rediss`), database 0, no credentials in it."""
        return f"rediss://{self.endpoint_address}:{self.settings.port}/0"

    @property
    def access(self) -> CacheAccess:
        return CacheAccess(
            self.redis_url, self.settings.cluster_mode, self.relay_user_id, self.group_id
        )

    @property
    def replication_group_id(self) -> str:
        return self.replication_group.ref

    @property
    def node_ids(self) -> list[str]:
        """CacheClusterId of every node, the dimension of the per-node metrics."""
        return cache_node_ids(self.group_id, self.settings)


def cache_node_ids(group_id: str, settings: CacheSettings) -> list[str]:
    """ElastiCache's node names: `<group>-001`..., or `<group>-<shard 0001>-<node 001>`
    per shard in cluster mode."""
    nodes = range(1, settings.nodes_per_shard + 1)
    if not settings.cluster_mode:
        return [f"{group_id}-{n:03d}" for n in nodes]
    return [
        f"{group_id}-{shard:04d}-{n:03d}" for shard in range(1, settings.shards + 1) for n in nodes
    ]


def cache_parameters(settings: CacheSettings) -> dict[str, str]:
    return {
        # Should memory run out, evict the least *frequently* used keys: presence (refreshed
        # every PRESENCE_TTL/4) and live rooms (read and written on every message) score
        # high, while a flood of keys written once scores low and goes first. LRU would
        # evict the oldest real data instead (the flood's keys are the most recent), and
        # volatile-ttl presence first (its TTL is the shortest). Volatile: only keys with a
        # TTL (every key the relay writes has one) can be evicted.
        "maxmemory-policy": "volatile-lfu",
        "cluster-enabled": "yes" if settings.cluster_mode else "no",
    }


class Topology(TypedDict, total=False):
    """The replication group's shape properties (CfnReplicationGroup keyword arguments)."""

    num_cache_clusters: int
    cluster_mode: str
    num_node_groups: int
    replicas_per_node_group: int


def topology_properties(settings: CacheSettings) -> Topology:
    """Shape of the replication group: a primary plus replicas, or N such shards."""
    if not settings.cluster_mode:
        return {"num_cache_clusters": settings.node_count}
    return {
        "cluster_mode": "enabled",
        "num_node_groups": settings.shards,
        "replicas_per_node_group": settings.replicas_per_shard,
    }
