from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.relay import RelayFleet, RelayProcess


@pytest.fixture
def two_relays(redis_url: str) -> Iterator[list[RelayProcess]]:
    """Two relays on one redis-server: every room spans both, as behind the ALB."""
    with RelayFleet({"REDIS_URL": redis_url}) as fleet:
        yield fleet.start(2)
