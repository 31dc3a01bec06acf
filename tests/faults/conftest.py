"""Shared fixtures of the fault suite: several relays on one redis-server, HAProxy in front.

Every process a fixture starts, the fixture stops. Heavy or long variants carry the `faults`
marker: `make test` skips them, `make faults` runs them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from harness.balancer import HAProxy
from harness.relay import RelayFleet, RelayProcess

# Senders in these cases send faster than a person; the rate limit is not what they test.
FAULT_RELAY_ENV = {"RATE_LIMIT": "1000", "RATE_BURST": "1000", "LOG_LEVEL": "warning"}

StartRelays = Callable[..., list[RelayProcess]]
StartBalancer = Callable[..., HAProxy]


@pytest.fixture
def start_relays(redis_url: str) -> Iterator[StartRelays]:
    """`start_relays(3, DRAIN_SECONDS="6")`: relays on the suite's (flushed) redis-server."""
    with RelayFleet({"REDIS_URL": redis_url, **FAULT_RELAY_ENV}) as fleet:
        yield fleet.start


@pytest.fixture
def start_balancer() -> Iterator[StartBalancer]:
    """`start_balancer(relays)`: HAProxy with cookie stickiness in front of running relays."""
    with contextlib.ExitStack() as stack:

        def start(relays: list[RelayProcess], **options: int) -> HAProxy:
            return stack.enter_context(HAProxy([r.port for r in relays], **options))

        yield start
