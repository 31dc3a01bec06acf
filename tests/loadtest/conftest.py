from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import RelayProcess


@pytest.fixture
def two_relays(redis_url: str) -> Iterator[list[RelayProcess]]:
    """Two relays on one redis-server: every room spans both, as behind the ALB."""
    with (
        RelayProcess(env={"REDIS_URL": redis_url}) as first,
        RelayProcess(env={"REDIS_URL": redis_url}) as second,
    ):
        yield [first, second]
