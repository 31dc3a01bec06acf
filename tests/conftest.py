"""Shared fixtures: real redis-server and relay processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.alb_identity import AlbSigningKey, KeyEndpoint, relay_env
from harness.cluster import LocalCluster
from harness.redis_server import RedisServer
from harness.relay import QUICK_STOP, RelayProcess


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A clean database on the suite's own redis-server (never the machine's 6379)."""
    client = redis_server.client()
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def relay() -> Iterator[RelayProcess]:
    """One relay in single-server mode (in-process broker); it stops at once."""
    with RelayProcess(env=QUICK_STOP) as process:
        yield process


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """Three primaries, no replicas: enough for sharding; failover tests build their own."""
    with LocalCluster(primaries=3) as cluster:
        yield cluster


@pytest.fixture
def cluster_url(redis_cluster: LocalCluster) -> str:
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture(scope="module")
def signing_key() -> AlbSigningKey:
    """The load balancer's signing key, as the stand-in key endpoint serves it."""
    return AlbSigningKey()


@pytest.fixture(scope="module")
def key_endpoint(signing_key: AlbSigningKey) -> Iterator[KeyEndpoint]:
    """The stand-in for the region's public-key endpoint, serving ``signing_key``."""
    with KeyEndpoint(signing_key) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def alb_relay(key_endpoint: KeyEndpoint) -> Iterator[RelayProcess]:
    """A relay with AUTH_MODE=alb, verifying tokens signed with ``signing_key``."""
    with RelayProcess(relay_env(key_endpoint)) as relay:
        yield relay
