"""Command connections retire at REDIS_MAX_CONNECTION_AGE (before ElastiCache's 12-hour cut):
a real redis-server sees a new connection, authenticated afresh, and no command fails."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio.connection import SSLConnection

from harness.redis_server import RedisServer
from service.broker.redis.clients import RedisClients
from service.broker.redis.lifetime import JITTER, AgingConnection, AgingSSLConnection, lifetime
from service.config import Settings
from service.part_settings import redis_broker_settings

pytestmark = pytest.mark.anyio


def test_lifetimes_are_jittered_below_the_limit() -> None:
    ages = [lifetime(100.0) for _ in range(1000)]
    assert all(100 * (1 - JITTER) <= age <= 100 for age in ages)
    assert max(ages) - min(ages) > 5  # spread out, not one instant


async def test_an_old_command_connection_is_replaced_before_its_next_command() -> None:
    with RedisServer() as redis:
        admin = redis.client()
        clients = RedisClients(
            redis_broker_settings(Settings(redis_url=redis.url, redis_max_connection_age=1.0))
        )
        try:
            assert issubclass(clients.commands.connection_pool.connection_class, AgingConnection)
            first = await clients.commands.client_id()
            assert await clients.commands.client_id() == first  # young: reused
            await asyncio.sleep(1.1)  # past the age limit (1 s less up to 10 %)
            second = await clients.commands.client_id()  # no error: reopened before sending
            assert second != first
            ids = {int(c["id"]) for c in admin.client_list()}
            assert first not in ids and second in ids  # the old one is closed, not leaked
        finally:
            await clients.close()
            admin.close()


def test_cluster_and_tls_connections_age_too() -> None:
    settings = Settings(
        redis_url="rediss://127.0.0.1:7000/0", redis_cluster=True, redis_max_connection_age=5.0
    )
    clients = RedisClients(redis_broker_settings(settings))  # nothing connects until used
    made = clients.commands.connection_kwargs["connection_class"]
    assert issubclass(made, AgingSSLConnection) and issubclass(made, SSLConnection)
    assert made.max_age == 5.0
    assert all(node.connection_class is made for node in clients.commands.startup_nodes)
