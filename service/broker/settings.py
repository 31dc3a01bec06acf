"""Each backend's own settings: the few numbers it reads, typed (redis-py's style), built
from the relay's ``Settings`` in one place (``service.part_settings``)."""

from __future__ import annotations

from dataclasses import dataclass

DAY = 86400  # seconds


@dataclass(frozen=True, slots=True)
class MemoryBrokerSettings:
    history_max_len: int  # messages kept per room (HISTORY_MAX_LEN)
    history_ttl: float = 7 * DAY  # seconds a room's history outlives its last message
    max_history_bytes: int = 64 * 2**20  # all rooms together (MEMORY_HISTORY_BYTES)


@dataclass(frozen=True, slots=True)
class RedisIamSettings:
    """ElastiCache IAM authentication: who signs in, to which cache, in which region."""

    user_id: str  # REDIS_IAM_USER (ElastiCache user id = user name)
    cache_name: str  # REDIS_IAM_CACHE_NAME: the replication group id
    region: str  # AWS_REGION


@dataclass(frozen=True, slots=True)
class RedisBrokerSettings:
    """No defaults: the relay's settings (contract.settings) hold them, once."""

    url: str  # REDIS_URL
    cluster: bool  # REDIS_CLUSTER: sharded Pub/Sub, keys by hash slot
    auth_token: str | None  # REDIS_AUTH_TOKEN
    iam: RedisIamSettings | None  # REDIS_IAM_*: a signed token per connection instead
    max_connection_age: float  # REDIS_MAX_CONNECTION_AGE: seconds before a connection renews
    publish_format: str  # REDIS_PUBLISH_FORMAT: what the Lua scripts publish
    history_max_len: int  # stream cap per room (HISTORY_MAX_LEN)
    history_ttl: int  # seconds (HISTORY_TTL_DAYS)
    presence_ttl: float  # seconds a connection stays present without a heartbeat
    identity_ttl: int  # seconds a resume token lives after its last use (IDENTITY_TTL_DAYS)
