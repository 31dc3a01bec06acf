"""Cache stack: the Valkey replication group, its AUTH token, subnets, parameters, logs."""

from __future__ import annotations

import json

import pytest

from tests.stacks.conftest import Synthesized


def replication_group(stage: Synthesized) -> dict:
    (group,) = stage.resources("cache", "AWS::ElastiCache::ReplicationGroup").values()
    return group


def test_engine_topology_and_encryption(stage: Synthesized) -> None:
    props = replication_group(stage)["Properties"]
    nodes = {"dev": 2, "staging": 2, "prod": 3}[stage.stage]
    node_type = {"dev": "cache.t4g.micro"}.get(stage.stage, "cache.m7g.large")
    assert props["Engine"] == "valkey"
    assert props["EngineVersion"] == "8.1"
    assert props["CacheNodeType"] == node_type
    assert props["NumCacheClusters"] == nodes  # a primary plus replicas
    assert props["MultiAZEnabled"] is True
    assert props["AutomaticFailoverEnabled"] is True
    assert props["TransitEncryptionEnabled"] is True
    assert props["TransitEncryptionMode"] == "required"
    assert props["AtRestEncryptionEnabled"] is True
    (key_id,) = stage.resources("cache", "AWS::KMS::Key")
    assert props["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert props["Port"] == 6380
    assert props["ReplicationGroupId"] == f"chat-relay-{stage.stage}"
    assert props["AutoMinorVersionUpgrade"] is True


def test_iam_authenticated_rbac_user_and_no_auth_token(stage: Synthesized) -> None:
    """No long-lived credential: RBAC with an IAM-enabled user (user id = user name), the
    required `default` user switched off, the group on the replication group, no AuthToken."""
    prefix = f"chat-relay-{stage.stage}"
    props = replication_group(stage)["Properties"]
    assert "AuthToken" not in props
    assert props["UserGroupIds"] == [prefix]
    assert props["TransitEncryptionEnabled"] is True  # IAM authentication needs TLS
    assert props["TransitEncryptionMode"] == "required"
    assert stage.resources("cache", "AWS::SecretsManager::Secret") == {}
    users = {
        u["Properties"]["UserName"]: u["Properties"]
        for u in stage.resources("cache", "AWS::ElastiCache::User").values()
    }
    assert set(users) == {f"{prefix}-relay", "default"}
    relay = users[f"{prefix}-relay"]
    assert relay["AuthenticationMode"] == {"Type": "iam"}
    assert relay["UserId"] == relay["UserName"]  # AWS: equal for IAM-enabled users
    assert relay["AccessString"] == "on ~* &* +@all -@dangerous"
    default = users["default"]
    assert default["AccessString"].startswith("off ")  # cannot log in, runs nothing
    assert "Passwords" not in default and default["UserId"] != "default"
    (group,) = stage.resources("cache", "AWS::ElastiCache::UserGroup").values()
    assert group["Properties"]["UserGroupId"] == prefix
    assert sorted(group["Properties"]["UserIds"]) == sorted(u["UserId"] for u in users.values())


def test_subnet_group_uses_the_isolated_subnets(stage: Synthesized) -> None:
    (subnet_group,) = stage.resources("cache", "AWS::ElastiCache::SubnetGroup").values()
    subnet_ids = subnet_group["Properties"]["SubnetIds"]
    assert len(subnet_ids) == (3 if stage.stage == "prod" else 2)
    for subnet in subnet_ids:
        assert "Vpccache" in json.dumps(subnet)  # a cross-stack reference to a cache subnet
    props = replication_group(stage)["Properties"]
    (group_id,) = stage.resources("cache", "AWS::ElastiCache::SubnetGroup")
    assert props["CacheSubnetGroupName"] == {"Ref": group_id}
    assert "CacheSecurityGroup" in json.dumps(props["SecurityGroupIds"])


def test_parameter_group(stage: Synthesized) -> None:
    stage.template("cache").has_resource_properties(
        "AWS::ElastiCache::ParameterGroup",
        {
            "CacheParameterGroupFamily": "valkey8",
            "Properties": {"maxmemory-policy": "volatile-lfu", "cluster-enabled": "no"},
        },
    )


def test_slow_and_engine_logs_go_to_encrypted_log_groups(stage: Synthesized) -> None:
    deliveries = replication_group(stage)["Properties"]["LogDeliveryConfigurations"]
    assert {d["LogType"] for d in deliveries} == {"slow-log", "engine-log"}
    for delivery in deliveries:
        assert delivery["DestinationType"] == "cloudwatch-logs"
        assert delivery["LogFormat"] == "json"
    groups = stage.resources("cache", "AWS::Logs::LogGroup")
    assert len(groups) == 2
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == 30
        assert "KmsKeyId" in group["Properties"]


def test_backups_and_deletion_per_stage(stage: Synthesized) -> None:
    group = replication_group(stage)
    retention = {"dev": 1, "staging": 1, "prod": 7}[stage.stage]
    assert group["Properties"]["SnapshotRetentionLimit"] == retention
    if stage.stage == "prod":
        assert group["DeletionPolicy"] == "Snapshot"
        assert group["UpdateReplacePolicy"] == "Snapshot"
    else:
        assert "DeletionPolicy" not in group


def test_cache_key_rotates(stage: Synthesized) -> None:
    stage.template("cache").has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


@pytest.mark.parametrize("stage_name", ["dev", "prod"])
def test_node_ids_name_every_node(assemblies: dict[str, Synthesized], stage_name: str) -> None:
    monitoring = json.dumps(assemblies[stage_name].templates["service"])
    count = 3 if stage_name == "prod" else 2
    for n in range(1, count + 1):
        assert f"chat-relay-{stage_name}-{n:03d}" in monitoring
    assert f"chat-relay-{stage_name}-{count + 1:03d}" not in monitoring
