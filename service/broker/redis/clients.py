"""Connections to Redis: the command client (a bounded pool, or a cluster client), the
pub/sub client per node, the Lua scripts, and the topology (which node owns a room).

Clients are built without redis-py's automatic retries where a silent reconnect would
hide a gap: the subscribers reconnect themselves and backfill each room from the stream.
Every connection authenticates as it opens: with REDIS_AUTH_TOKEN, or as an ElastiCache IAM
user with a token signed for that connection (``iam_auth.py``); command connections retire
themselves at REDIS_MAX_CONNECTION_AGE (``lifetime.py``), before ElastiCache's 12-hour limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.client import Redis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ..base import BrokerUnavailable
from ..settings import RedisBrokerSettings
from .iam_auth import IamCredentialProvider
from .keys import channel_of
from .lifetime import aging_class

SCRIPTS = Path(__file__).with_name("scripts")
COMMAND_TIMEOUT = 5.0
COMMAND_POOL_SIZE = 32
CLUSTER_NODE_CONNECTIONS = 1000  # per node; RedisCluster has no waiting pool
STANDALONE = "standalone"  # the node name of the one server outside cluster mode


def node_url(url: str, node_name: str) -> str:
    """REDIS_URL pointed at one cluster node (`host:port`), keeping its scheme and query:
    `rediss` and its TLS options must reach the shard subscribers too (ElastiCache in
    cluster mode refuses plain TCP when in-transit encryption is required)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{node_name}" if credentials else node_name
    return urlunsplit(parts._replace(netloc=netloc))


def as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisClients:
    """What every part of the Redis backend shares: one command client, and whether it
    answers (``live``: the health probe sets it, a failed command clears it)."""

    def __init__(self, settings: RedisBrokerSettings) -> None:
        self.url = settings.url
        self.cluster = settings.cluster
        self.max_connection_age = settings.max_connection_age
        self.credentials: IamCredentialProvider | None = None
        if settings.iam is not None:
            self.credentials = IamCredentialProvider(
                user_id=settings.iam.user_id,
                cache_name=settings.iam.cache_name,
                region=settings.iam.region,
            )
        self._options: dict[str, Any] = {
            "password": settings.auth_token,
            "credential_provider": self.credentials,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 0),
            "socket_connect_timeout": COMMAND_TIMEOUT,
            "health_check_interval": 0,
        }
        # Either client type: the cluster client routes each command by its key's slot.
        self.commands: Any
        if self.cluster:
            self.commands = RedisCluster.from_url(
                self.url,
                socket_timeout=COMMAND_TIMEOUT,
                max_connections=CLUSTER_NODE_CONNECTIONS,
                **self._options,
            )
            # RedisCluster takes no connection class: its nodes are built from these
            # kwargs (shared with its nodes manager), the startup nodes already exist.
            kwargs = self.commands.connection_kwargs
            kwargs["connection_class"] = aging_class(
                kwargs["connection_class"], self.max_connection_age
            )
            for node in self.commands.startup_nodes:
                node.connection_class = kwargs["connection_class"]
        else:
            # A bounded pool that waits for a free connection: a thousand joins at once
            # must queue for connections, not open a thousand (the default pool errors).
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=COMMAND_POOL_SIZE,
                timeout=COMMAND_TIMEOUT,
                socket_timeout=COMMAND_TIMEOUT,
                **self._options,
            )
            # After construction: a rediss:// URL has chosen the TLS class by now.
            pool.connection_class = aging_class(pool.connection_class, self.max_connection_age)
            self.commands = aioredis.Redis(connection_pool=pool)
        self.publish_command = "SPUBLISH" if self.cluster else "PUBLISH"
        self.live = False

    def script(self, name: str) -> AsyncScript:
        script: AsyncScript = self.commands.register_script((SCRIPTS / name).read_text())
        return script

    def subscriber_client(self, node_name: str) -> Redis:
        """A fresh connection for one node's pub/sub."""
        url = node_url(self.url, node_name) if self.cluster else self.url
        return aioredis.Redis.from_url(url, **self._options)

    def node_of(self, room: str) -> str:
        return self.node_of_key(channel_of(room))

    def node_of_key(self, key: str) -> str:
        if not self.cluster:
            return STANDALONE
        name: str = self.commands.get_node_from_key(key).name
        return name

    @contextlib.asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Turn Redis connection trouble into BrokerUnavailable for the caller."""
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self.live = False
            raise BrokerUnavailable(str(exc)) from exc

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.commands.aclose()
