"""The join storm both D scenarios run (bench/storm.py), small, against two real relays on
one redis-server: everyone joins, the RSS samples bracket the hold, the figures come out."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from bench.contenders import RELAY_ENV
from bench.storm import join_storm
from harness.redis_server import RedisServer
from harness.relay import RelayFleet


@pytest.mark.redis
def test_a_small_storm_joins_everyone_and_samples_memory(
    redis_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    with RelayFleet({**RELAY_ENV, "REDIS_URL": redis_url}) as fleet:
        relays = fleet.start(2)

        def rss() -> int:
            return sum(psutil.Process(relay.pid).memory_info().rss for relay in relays)

        # 5 s: the "all joined" progress line comes once a second and, on a busy host, up to
        # 2 s late; the steady window starts a second after it and ends a second before the end
        storm = join_storm(fleet.urls, rss, hold="5s", name="storm", results=tmp_path, clients=40)
    assert storm.joined == 40
    assert storm.report["join"]["clients"] == 40
    assert storm.all_joined_at is not None
    # sampled every 0.2 s through a 5 s hold: at least one steady second in the middle
    assert len(storm.samples) >= 10
    assert storm.steady_samples()
    assert storm.rss_before > 0
    assert storm.peak_rss() >= storm.steady_rss() > 0
    assert storm.tail_rss(2.0) > 0
    assert (tmp_path / "storm.json").is_file()
