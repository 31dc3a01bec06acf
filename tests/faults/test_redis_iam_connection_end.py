"""ElastiCache IAM authentication, against a local stand-in that ends connections.

The stand-in is a real redis-server, TLS only (as ElastiCache requires for IAM), where the
relays must log in as an ACL user that is not ``default`` (the IAM user; redis-server cannot
check a SigV4 token, so the user takes any password: the token's format is tested in
tests/service/test_redis_iam_auth.py). While messages flow across two relays:

- every relay connection is renewed by the relay itself at REDIS_MAX_CONNECTION_AGE, and
- the server ends every relay connection at intervals (``CLIENT KILL USER``), as ElastiCache
  does at 12 hours to a connection the relay did not renew in time.

Every acknowledged message reaches every listener exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from harness.redis_server import RedisServer
from harness.relay import RelayProcess
from harness.tls import Certificates, make_certificates
from stacks.cache_users import RELAY_ACCESS_STRING
from tests.support.figures import report
from tests.support.traffic import Listener, Sender, acked_in_order, check_delivery

pytestmark = pytest.mark.anyio

IAM_USER = "chat-relay-test"
ADMIN_PASSWORD = "admin-password"  # the test's own login; the relays never see it


class TlsRedisServer(RedisServer):
    """TLS only, the ``default`` user off, an ``admin`` for the test and the IAM user."""

    def __init__(self, tls: Certificates) -> None:
        super().__init__()
        self.tls = tls

    def extra_args(self) -> list[str]:
        return [
            "--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no",
            "--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key),
            "--tls-ca-cert-file", str(self.tls.ca),
            "--user", "admin", "on", f">{ADMIN_PASSWORD}", "~*", "&*", "+@all",
            # redis-server cannot verify a SigV4 token: the stand-in IAM user takes any;
            # its rights are the ones the stacks give the relay's ElastiCache user.
            "--user", IAM_USER, "nopass", *RELAY_ACCESS_STRING.split(),
            "--user", "default", "off",
        ]  # fmt: skip

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls.ca}"

    def client(self) -> redis.Redis:
        options: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(self.tls.ca)}
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            username="admin",
            password=ADMIN_PASSWORD,
            decode_responses=True,
            **options,
        )


@pytest.fixture
def certificates() -> Iterator[Certificates]:
    directory = tempfile.mkdtemp(prefix="chat-relay-tls-")
    try:
        yield make_certificates(Path(directory))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def relay_env(server: TlsRedisServer, max_age: float) -> dict[str, str]:
    return {
        "REDIS_URL": server.url,
        "REDIS_IAM_USER": IAM_USER,
        "REDIS_IAM_CACHE_NAME": "chat-relay-test",
        "AWS_REGION": "eu-west-1",
        "REDIS_MAX_CONNECTION_AGE": str(max_age),
        # Fixed, fake credentials: signing is local, nothing calls AWS.
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "example-session-token",
        "AWS_EC2_METADATA_DISABLED": "true",
        "RATE_LIMIT": "1000",
        "RATE_BURST": "1000",
        "LOG_LEVEL": "info",
    }


async def end_connections(admin: redis.Redis, every: float, ended: list[int]) -> None:
    """What ElastiCache does at 12 hours, every ``every`` seconds: end the relays' connections."""
    while True:
        await asyncio.sleep(every)
        ended.append(int(await asyncio.to_thread(admin.client_kill_filter, user=IAM_USER)))


async def settle(listeners: list[Listener], expected: int, timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and any(  # noqa: ASYNC110 - polling counters
        len(x.ids) < expected for x in listeners
    ):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # anything late or repeated shows up now


async def test_connections_renewed_and_ended_lose_and_repeat_nothing(
    certificates: Certificates,
) -> None:
    with TlsRedisServer(certificates) as server:
        admin = server.client()
        env = relay_env(server, max_age=1.0)
        with RelayProcess(env=env) as one, RelayProcess(env=env) as two:
            users = {c["user"] for c in admin.client_list()}
            assert IAM_USER in users  # the relays logged in as the IAM user
            listeners = [await Listener(r.ws, "iam").start() for r in (one, two, one, two)]
            senders = [Sender(r.ws, "iam", f"s{i}") for i, r in enumerate((one, two))]
            ended: list[int] = []
            killer = asyncio.create_task(end_connections(admin, 1.7, ended))
            try:
                traffic = [asyncio.create_task(s.send(1500, interval=0.002)) for s in senders]
                await asyncio.wait_for(asyncio.gather(*traffic), 90)
            finally:
                killer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await killer
            acked = acked_in_order(senders)
            await settle(listeners, len(acked))
            results = [check_delivery(x, acked) for x in listeners]
            for listener in listeners:
                await listener.stop()
            logs = one.output() + two.output()
        admin.close()
    renewals = logs.count("renews its connection (age limit)")
    assert sum(ended) > 0 and renewals > 0, (ended, renewals)
    for figures in results:
        assert figures["missing"] == 0 and figures["duplicates"] == 0, figures
        assert figures["in_order"] == 1 and figures["gaps_signalled"] == 0, figures
    report(
        "redis-iam-connection-end",
        acked=len(acked),
        connections_ended_by_server=sum(ended),
        subscriber_renewals=renewals,
        retries=sum(s.retries for s in senders),
        missing_per_listener=[f["missing"] for f in results],
        duplicates_per_listener=[f["duplicates"] for f in results],
    )
