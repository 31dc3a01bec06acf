"""Who may use the cache: an ElastiCache RBAC user group with the relay's IAM-enabled user.

No password exists anywhere: the relay signs a 15-minute IAM authentication token with its
task role for each connection (service/broker/redis/iam_auth.py), and the task role may
`elasticache:Connect` to this replication group as this user only. What AWS requires
(https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html, "Limitations" and
"Setup"): Valkey 7.2+ or Redis OSS 7.0+, in-transit encryption, an IAM user whose user name
equals its user id; and every user group holds a user named `default`, here one that is
switched off and may run nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_elasticache as elasticache
from constructs import Construct

from stacks.config import StageIdentity

# RBAC users and groups of either engine: "redis" is the value every Valkey and Redis OSS
# replication group accepts (AWS's RBAC page: Valkey caches still use "redis" users).
USER_ENGINE = "redis"
# Every key and channel; every command except the @dangerous ones (FLUSHALL, KEYS, CONFIG,
# DEBUG, CLIENT KILL...), none of which the relay sends (tests/faults run the relays under
# this very string on a real redis-server).
RELAY_ACCESS_STRING = "on ~* &* +@all -@dangerous"
# The `default` user every group must contain: off, no commands, no keys, no channels.
DISABLED_ACCESS_STRING = "off -@all"


def relay_user_id(stage: StageIdentity) -> str:
    """The relay's user id, and its user name (IAM authentication requires them equal)."""
    return f"{stage.prefix}-relay"


@dataclass(frozen=True)
class CacheUsers:
    relay: elasticache.CfnUser
    default: elasticache.CfnUser
    group: elasticache.CfnUserGroup

    @property
    def group_id(self) -> str:
        return self.group.user_group_id


def cache_users(scope: Construct, stage: StageIdentity) -> CacheUsers:
    relay_id = relay_user_id(stage)
    relay = elasticache.CfnUser(
        scope,
        "RelayUser",
        engine=USER_ENGINE,
        user_id=relay_id,
        user_name=relay_id,
        access_string=RELAY_ACCESS_STRING,
        authentication_mode={"Type": "iam"},
    )
    default = elasticache.CfnUser(
        scope,
        "DefaultUser",
        engine=USER_ENGINE,
        # The name `default` is what ElastiCache requires; the id only has to be unique.
        user_id=f"{stage.prefix}-default",
        user_name="default",
        access_string=DISABLED_ACCESS_STRING,
        # Switched off ("off"): no password could log it in, so none is kept anywhere.
        authentication_mode={"Type": "no-password-required"},
    )
    group = elasticache.CfnUserGroup(
        scope,
        "UserGroup",
        engine=USER_ENGINE,
        user_group_id=stage.prefix,
        user_ids=[default.user_id, relay.user_id],
    )
    group.add_dependency(default)
    group.add_dependency(relay)
    return CacheUsers(relay, default, group)


def connect_arns(scope: Construct, replication_group_id: str, user_id: str) -> list[str]:
    """What `elasticache:Connect` is granted on: exactly this replication group and user
    (AWS: the policy names both the cache and the user)."""
    stack = Stack.of(scope)
    return [
        stack.format_arn(
            service="elasticache",
            resource=kind,
            resource_name=name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        for kind, name in (("replicationgroup", replication_group_id), ("user", user_id))
    ]
