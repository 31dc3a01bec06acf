"""The deregistration watcher against a real local HTTP server standing in for the task
metadata endpoint v4 and the Elastic Load Balancing API (harness/ecs.py), and a relay
process that drains when its target turns `draining`, long before SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus

from harness.client import ChatClient
from harness.ecs import REGION, TARGET_GROUP_ARN, EcsStandIn
from harness.polling import wait_for, wait_until
from harness.relay import RelayProcess
from service.deregistration import (
    DeregistrationWatcher,
    MetadataError,
    Target,
    TargetHealthProbe,
    task_address,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[EcsStandIn]:
    with EcsStandIn() as stand_in:
        for name, value in stand_in.relay_env("unit").items():
            if name.startswith("AWS_"):
                monkeypatch.setenv(name, value)
        yield stand_in


def test_task_address_comes_from_the_metadata_endpoint(ecs: EcsStandIn) -> None:
    uri = ecs.add_task("t1", ip="10.0.2.17")
    assert task_address(uri) == "10.0.2.17"
    with pytest.raises(MetadataError, match="unreadable"):
        task_address(f"{ecs.url}/v4/no-such-task")


def test_probe_asks_for_exactly_its_target_signed_for_the_arns_region(ecs: EcsStandIn) -> None:
    probe = TargetHealthProbe(TARGET_GROUP_ARN, Target("10.0.2.17", 8000))
    assert probe.state() == "healthy"
    ecs.set_state("10.0.2.17", 8000, "draining")
    assert probe.state() == "draining"
    assert ecs.calls.describe_target_health == [(TARGET_GROUP_ARN, "10.0.2.17", 8000)] * 2
    assert ecs.calls.refused == []  # SigV4 scope matched REGION and elasticloadbalancing
    assert REGION in TARGET_GROUP_ARN


def test_probe_refuses_what_is_not_a_target_group_arn() -> None:
    with pytest.raises(ValueError, match="not a target group ARN"):
        TargetHealthProbe("arn:aws:ecs:us-east-1:123456789012:service/x", Target("10.0.0.1", 1))


async def test_watcher_calls_on_draining_once_and_stops(ecs: EcsStandIn) -> None:
    uri = ecs.add_task("t1", ip="10.0.2.17")
    drained: list[float] = []
    watcher = DeregistrationWatcher(
        target_group_arn=TARGET_GROUP_ARN,
        metadata_uri=uri,
        port=8000,
        poll_seconds=0.1,
        on_draining=lambda: drained.append(time.monotonic()),
    )
    task = asyncio.create_task(watcher.run())
    try:
        await wait_for(lambda: watcher.polls >= 3, 20, "three polls")
        assert drained == [] and watcher.last_state == "healthy"
        flipped = time.monotonic()
        ecs.set_state("10.0.2.17", 8000, "draining")
        await asyncio.wait_for(task, 20)  # run() returns once it has seen draining
    finally:
        task.cancel()
    assert len(drained) == 1
    assert drained[0] - flipped < 5  # within a poll or two (0.1 s), generously bounded
    assert watcher.last_state == "draining"


async def test_watcher_keeps_polling_through_throttling_and_a_late_metadata_endpoint(
    ecs: EcsStandIn,
) -> None:
    uri = f"{ecs.url}/v4/late"  # not registered yet: the endpoint answers 404 at first
    drained: list[bool] = []
    watcher = DeregistrationWatcher(
        target_group_arn=TARGET_GROUP_ARN,
        metadata_uri=uri,
        port=8000,
        poll_seconds=0.1,
        on_draining=lambda: drained.append(True),
    )
    ecs.throttle(3)
    task = asyncio.create_task(watcher.run())
    try:
        await wait_for(lambda: watcher.failures >= 2, 20, "two failed polls")
        ecs.add_task("late", ip="10.0.3.4")
        ecs.set_state("10.0.3.4", 8000, "draining")
        await asyncio.wait_for(task, 30)
    finally:
        task.cancel()
    assert drained == [True]
    assert watcher.failures >= 3  # metadata 404s plus throttled calls, all survived


# --- the relay process -------------------------------------------------------------------


async def test_relay_drains_on_deregistration_then_exits_at_once_on_sigterm(
    redis_url: str,
) -> None:
    drain_seconds = 3.0
    with EcsStandIn() as ecs:
        env = {
            "REDIS_URL": redis_url,
            "DRAIN_SECONDS": str(drain_seconds),
            "DRAIN_POLL_SECONDS": "0.2",
            **ecs.relay_env("doomed"),
        }
        with RelayProcess(env={"REDIS_URL": redis_url}) as survivor, RelayProcess(env=env) as relay:
            wait_until(lambda: len(ecs.calls.describe_target_health) >= 2, 15, what="polling")
            async with await ChatClient.connect(survivor.ws) as watcher:
                await watcher.join("dereg")
                clients = [await ChatClient.connect(relay.ws) for _ in range(30)]
                members = [(await c.join("dereg")).member["id"] for c in clients]
                for _ in members:
                    await watcher.recv_type("member_add")

                flipped = time.monotonic()
                ecs.set_state("127.0.0.1", relay.port, "draining")
                codes = await asyncio.gather(*(c.closed_with(timeout=20) for c in clients))
                closes_done = time.monotonic() - flipped
                deleted = {
                    (await watcher.recv_type("member_delete", timeout=10))["id"] for _ in members
                }

                assert codes == [1012] * len(clients)
                assert deleted == set(members)  # presence removed while the process lives
                # Spread over the drain window, not all at once.
                assert closes_done > drain_seconds * 0.5
                assert relay.process.poll() is None  # still running: SIGTERM has not come
                status, body = _get(f"{relay.http}/readyz")
                assert status == 503 and b'"draining":true' in body
                with pytest.raises(InvalidStatus) as refused:  # no new joins while draining
                    await ChatClient.connect(relay.ws)
                assert refused.value.response.status_code == 403

                signalled = time.monotonic()
                relay.process.send_signal(signal.SIGTERM)
                exit_code = await asyncio.to_thread(relay.process.wait, 30)
                assert exit_code in (0, -signal.SIGTERM)
                assert time.monotonic() - signalled < drain_seconds  # nothing left to close
                output = relay.output()
                assert "deregistration" in output and "draining 30 connections" in output


def _get(url: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
