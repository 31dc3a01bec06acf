"""A fleet of relays stops every relay it started, including after a start that failed."""

from __future__ import annotations

import pytest

from harness.ports import free_port
from harness.relay import RelayFleet, RelayProcess


def test_a_fleet_starts_relays_with_its_settings_and_stops_them_all() -> None:
    with RelayFleet({"LOG_LEVEL": "warning"}) as fleet:
        relays = fleet.start(2, RATE_LIMIT="5")
        assert fleet.relays == relays and len(fleet.urls) == 2
        assert all(r.env["LOG_LEVEL"] == "warning" and r.env["RATE_LIMIT"] == "5" for r in relays)
        processes = [r.process for r in relays]
        assert all(p is not None and p.poll() is None for p in processes)
    assert all(p is not None and p.poll() is not None for p in processes)
    assert fleet.relays == []


def test_a_relay_that_fails_to_start_is_still_stopped_with_the_others() -> None:
    with RelayFleet() as fleet:
        (good,) = fleet.start(1)
        with pytest.raises(RuntimeError, match="exited early"):
            fleet.start(1, HISTORY_SIZE="not a number")  # the relay refuses bad settings
        assert len(fleet.relays) == 2
    assert good.process is not None and good.process.poll() is not None


def test_a_relay_that_never_gets_ready_is_stopped_when_its_start_gives_up() -> None:
    # Redis on a port nobody listens on: the relay runs, and /readyz never answers 200.
    relay = RelayProcess({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    with pytest.raises(TimeoutError):
        relay.start(timeout=3)
    assert relay.process is not None and relay.process.poll() is not None
