"""`python -m loadtest.smoke`, the pipeline's first check after a deploy, against real
relays on loopback: it passes on a healthy relay and names the step that failed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from harness.paths import REPO
from harness.polling import wait_until
from harness.ports import free_port
from harness.redis_server import RedisServer
from harness.relay import RelayProcess
from loadtest.smoke import readyz_url

ORIGIN = "https://chat.example.com"


def smoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtest.smoke", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own: one test stops it."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def staging_like(redis: RedisServer) -> Iterator[RelayProcess]:
    """A relay on Redis that admits only its domain's origin, as staging runs."""
    with RelayProcess(env={"REDIS_URL": redis.url, "ALLOWED_ORIGINS": ORIGIN}) as relay:
        yield relay


def test_readyz_url_follows_the_websocket_url() -> None:
    assert readyz_url("wss://chat.example.com/ws") == "https://chat.example.com/readyz"
    assert readyz_url("ws://127.0.0.1:8000/ws") == "http://127.0.0.1:8000/readyz"


def test_passes_on_a_healthy_relay(staging_like: RelayProcess) -> None:
    done = smoke(staging_like.ws, "--origin", ORIGIN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"ok  GET {staging_like.http}/readyz: 200",
        f"ok  WebSocket upgrade at {staging_like.ws}",
        done.stdout.splitlines()[2],  # the room name is random
        "ok  sent a message: ack and the message came back",
    ]
    assert "welcome, member_history, message_history" in done.stdout.splitlines()[2]


def test_fails_on_a_refused_origin_with_the_hint(staging_like: RelayProcess) -> None:
    done = smoke(staging_like.ws, "--origin", "https://elsewhere.example.com")
    assert done.returncode == 1
    assert "smoke check failed:" in done.stderr
    assert "check --origin against ALLOWED_ORIGINS" in done.stderr


def test_fails_on_readyz_while_redis_is_down(
    redis: RedisServer, staging_like: RelayProcess
) -> None:
    redis.stop()

    def not_ready() -> bool:
        return smoke(staging_like.ws, "--origin", ORIGIN).returncode == 1

    wait_until(not_ready, timeout=20, interval=0.5, what="/readyz to turn 503")
    done = smoke(staging_like.ws, "--origin", ORIGIN)
    assert done.returncode == 1
    assert f"GET {staging_like.http}/readyz answered 503, not 200" in done.stderr


def test_fails_when_nothing_listens() -> None:
    port = free_port()
    done = smoke(f"ws://127.0.0.1:{port}/ws")
    assert done.returncode == 1
    assert f"GET http://127.0.0.1:{port}/readyz:" in done.stderr


def test_bad_url_is_an_argument_error() -> None:
    done = smoke("https://chat.example.com")
    assert done.returncode == 2
    assert "is not a ws:// or wss:// URL" in done.stderr
