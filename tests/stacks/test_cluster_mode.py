"""Cluster mode enabled: the cache split over shards, the relay told to speak Redis Cluster.

The `cluster` assembly is prod synthesized with -c cacheClusterMode=true -c cacheShards=3
(prod's 2 replicas per shard): 9 nodes. The linters (cdk-nag here, cfn-lint and checkov
in their own modules) and the snapshots cover it as they cover every stage.
"""

from __future__ import annotations

import json

import pytest

from stacks.cache import cache_node_ids
from stacks.cache_metrics import alarm_node_groups
from stacks.config import StageConfigError
from tests.stacks.conftest import CLUSTER_CONTEXT, Synthesized, load, synthesize
from tests.stacks.test_nag import acknowledged, reviewed

CLUSTER_NODES = [
    f"chat-relay-prod-{shard:04d}-{node:03d}" for shard in (1, 2, 3) for node in (1, 2, 3)
]


def replication_group(assembly: Synthesized) -> dict:
    (group,) = assembly.resources("cache", "AWS::ElastiCache::ReplicationGroup").values()
    return group["Properties"]


def relay_environment(assembly: Synthesized) -> dict:
    (task,) = assembly.resources("service", "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    return {pair["Name"]: pair["Value"] for pair in container["Environment"]}


def test_replication_group_is_sharded(cluster: Synthesized) -> None:
    props = replication_group(cluster)
    assert props["ClusterMode"] == "enabled"
    assert props["NumNodeGroups"] == 3
    assert props["ReplicasPerNodeGroup"] == 2
    assert "NumCacheClusters" not in props  # the standalone form of the node count
    # Everything else is the standalone group's: failover, TLS, KMS, RBAC with IAM, port.
    assert props["MultiAZEnabled"] is True
    assert props["AutomaticFailoverEnabled"] is True
    assert props["TransitEncryptionMode"] == "required"
    assert props["AtRestEncryptionEnabled"] is True
    assert props["Port"] == 6380
    assert "AuthToken" not in props and props["UserGroupIds"] == [props["ReplicationGroupId"]]


def test_cluster_parameter_group_enables_cluster_mode(cluster: Synthesized) -> None:
    (logical_id,) = cluster.resources("cache", "AWS::ElastiCache::ParameterGroup")
    # A different logical id from the standalone group's: switching modes creates a new
    # group instead of flipping cluster-enabled on one in use (which ElastiCache refuses).
    assert logical_id.startswith("ClusterParameterGroup")
    cluster.template("cache").has_resource_properties(
        "AWS::ElastiCache::ParameterGroup",
        {
            "CacheParameterGroupFamily": "valkey8",
            "Properties": {"maxmemory-policy": "volatile-lfu", "cluster-enabled": "yes"},
        },
    )
    assert replication_group(cluster)["CacheParameterGroupName"] == {"Ref": logical_id}


def test_relay_gets_the_configuration_endpoint_and_cluster_flag(cluster: Synthesized) -> None:
    env = relay_environment(cluster)
    assert env["REDIS_CLUSTER"] == "true"
    url = json.dumps(env["REDIS_URL"])
    assert url.startswith('{"Fn::Join": ["", ["rediss://"')
    assert "ConfigurationEndPointAddress" in url
    assert "PrimaryEndPointAddress" not in url
    assert ":6380/0" in url


def test_shard_count_changes_reshard_online(cluster: Synthesized, prod: Synthesized) -> None:
    """Without UseOnlineResharding a NumNodeGroups change replaces the group, which its
    fixed ReplicationGroupId forbids; standalone groups take no such policy."""
    ((group_id, group),) = cluster.resources("cache", "AWS::ElastiCache::ReplicationGroup").items()
    assert group["UpdatePolicy"] == {"UseOnlineResharding": True}, group_id
    (standalone,) = prod.resources("cache", "AWS::ElastiCache::ReplicationGroup").values()
    assert "UpdatePolicy" not in standalone


def test_standalone_stages_do_not_speak_cluster(stage: Synthesized) -> None:
    env = relay_environment(stage)
    assert "REDIS_CLUSTER" not in env
    assert "PrimaryEndPointAddress" in json.dumps(env["REDIS_URL"])
    assert "ClusterMode" not in replication_group(stage)


def test_cache_alarms_watch_every_node_of_every_shard(cluster: Synthesized) -> None:
    cache_alarms = [
        a["Properties"]
        for a in cluster.resources("service", "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"].startswith("chat-relay-prod-Cache")
    ]
    assert len(cache_alarms) == 5  # 9 nodes fit one alarm's 10 metrics
    for alarm in cache_alarms:
        watched = [
            d["Value"]
            for q in alarm["Metrics"]
            if "MetricStat" in q
            for d in q["MetricStat"]["Metric"]["Dimensions"]
        ]
        assert sorted(watched) == CLUSTER_NODES


def test_large_cluster_alarms_split_by_whole_shards(tmp_path) -> None:
    """12 nodes exceed CloudWatch's 10 metrics per alarm: two alarms per cache metric."""
    context = {"cacheClusterMode": "true", "cacheShards": "6"}
    assembly = synthesize("staging", tmp_path, context).stage
    assert assembly.nag_findings == []
    names = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in assembly.resources("service", "AWS::CloudWatch::Alarm").values()
    }
    first, second = (
        names["chat-relay-staging-CacheEngineCpuGroup1"],
        names["chat-relay-staging-CacheEngineCpuGroup2"],
    )
    assert "chat-relay-staging-CacheEngineCpu" not in names
    shard_of = [
        [
            d["Value"][:-4]
            for q in a["Metrics"]
            if "MetricStat" in q
            for d in q["MetricStat"]["Metric"]["Dimensions"]
        ]
        for a in (first, second)
    ]
    assert len(shard_of[0]) == 10 and len(shard_of[1]) == 2
    assert set(shard_of[0]).isdisjoint(shard_of[1])  # a shard is never split over alarms


def test_alarm_node_groups_keep_shards_whole() -> None:
    nodes = [f"g-{s:04d}-{n:03d}" for s in range(1, 8) for n in range(1, 4)]  # 7 x 3
    groups = alarm_node_groups(nodes, 3)
    assert [len(g) for g in groups] == [9, 9, 3]
    assert [node for group in groups for node in group] == nodes
    assert alarm_node_groups(["a-001", "a-002"], 2) == [["a-001", "a-002"]]


def test_node_ids_follow_elasticache_naming() -> None:
    config = load("prod", **CLUSTER_CONTEXT)
    assert cache_node_ids("chat-relay-prod", config.cache) == CLUSTER_NODES
    standalone = load("prod")
    assert cache_node_ids("chat-relay-prod", standalone.cache) == [
        "chat-relay-prod-001",
        "chat-relay-prod-002",
        "chat-relay-prod-003",
    ]


def test_cluster_passes_cdk_nag_with_the_reviewed_acknowledgements(cluster: Synthesized) -> None:
    assert cluster.nag_findings == []
    assert acknowledged(cluster, "prod") == reviewed("prod")


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"cacheClusterMode": "true"}, (True, 1, 2)),
        (
            {"cacheClusterMode": "yes", "cacheShards": "4", "cacheReplicasPerShard": "1"},
            (True, 4, 1),
        ),
        ({"cacheClusterMode": "false"}, (False, 1, 2)),
        ({}, (False, 1, 2)),
    ],
)
def test_context_selects_the_topology(context: dict[str, str], expected: tuple) -> None:
    cache = load("prod", **context).cache
    assert (cache.cluster_mode, cache.shards, cache.replicas_per_shard) == expected


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"cacheClusterMode": "maybe"}, "cacheClusterMode='maybe' is not true or false"),
        ({"cacheShards": "three"}, "cacheShards='three' is not a whole number"),
        ({"cacheReplicasPerShard": "-1"}, "pass e.g. -c cacheReplicasPerShard=1"),
        ({"cacheShards": "3"}, "cache.shards=3 needs cluster mode"),
        ({"cacheClusterMode": "true", "cacheReplicasPerShard": "0"}, "1 to 5 replicas"),
    ],
)
def test_bad_topology_context_fails_with_a_fix(context: dict[str, str], expected: str) -> None:
    with pytest.raises(StageConfigError) as raised:
        load("prod", **context)
    assert expected in str(raised.value)
