"""The server API's deployments: one relay in memory mode, and two relays over one
redis-server (the API called on the first, members on the second)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from harness.redis_server import RedisServer
from harness.relay import RelayFleet, RelayProcess

API_KEY = "test-key-0123456789abcdef"
OTHER_KEY = "rotated-key-fedcba9876543210"
ROOM_SECRET = "room-secret-0123456789abcdef0123456789"
API_ENV = {
    "SERVER_API_KEYS": f"{API_KEY},{OTHER_KEY}",
    "ROOM_TOKEN_SECRET": ROOM_SECRET,
    "PRESENCE_TTL": "8",
}


@dataclass
class Deployment:
    mode: str  # "memory" or "redis"
    relays: list[RelayProcess]

    @property
    def api_url(self) -> str:
        """Where the API is called: the first relay."""
        return self.relays[0].http

    @property
    def member_ws(self) -> str:
        """Where members connect: the other relay (in memory mode, the only one)."""
        return self.relays[-1].ws

    @property
    def ws_urls(self) -> list[str]:
        return [relay.ws for relay in self.relays]

    def api(self, key: str = API_KEY) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )


@pytest.fixture(scope="module", params=["memory", "redis"])
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """Shared by a module's tests (each uses its own rooms and members)."""
    env = dict(API_ENV)
    count = 1
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        env["REDIS_URL"] = server.url
        count = 2
    with RelayFleet(env) as fleet:
        yield Deployment(request.param, fleet.start(count))
