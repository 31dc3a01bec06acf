"""AUTH_MODE=alb when the key endpoint misbehaves: every upgrade gets an answer (401) within
the fetch deadline, none hangs, and a redirect is not followed (issue 27, item 1).

The key endpoint is a stand-in on 127.0.0.1 (harness/bad_key_server.py).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.exceptions import InvalidStatus

from harness.alb_identity import ALB_ARN, AlbSigningKey, KeyEndpoint
from harness.bad_key_server import BAD_ANSWERS, BadAnswer, BadKeyServer
from harness.client import ChatClient
from harness.relay import RelayProcess
from service.identity_alb import HEADER, KEY_FETCH_DEADLINE, AlbIdentityVerifier, NotSignedIn

pytestmark = pytest.mark.anyio

ADA = {"sub": "idp-user-1", "name": "Ada Lovelace"}
# The deadline, plus what a loaded 2-core machine needs to answer the handshake.
ANSWER_WITHIN = KEY_FETCH_DEADLINE + 3.0


async def upgrade_status(relay: RelayProcess, token: str) -> int:
    try:
        client = await ChatClient.connect(
            relay.ws, additional_headers={HEADER: token}, open_timeout=ANSWER_WITHIN + 5
        )
    except InvalidStatus as refused:
        return refused.response.status_code
    await client.close()
    return 101


@pytest.mark.parametrize("answer", BAD_ANSWERS)
async def test_three_concurrent_upgrades_each_get_a_refusal_in_time(answer: BadAnswer) -> None:
    key = AlbSigningKey()
    with (
        KeyEndpoint(key) as good,
        BadKeyServer(answer, redirect_to=good.url) as bad,
        RelayProcess(
            {"AUTH_MODE": "alb", "ALB_ARN": ALB_ARN, "ALB_PUBLIC_KEY_URL": bad.url}
        ) as relay,
    ):
        token = key.token(ADA)
        started = time.monotonic()
        statuses = await asyncio.wait_for(
            asyncio.gather(*(upgrade_status(relay, token) for _ in range(3))), ANSWER_WITHIN
        )
        took = time.monotonic() - started
        assert statuses == [401, 401, 401], f"{answer}: {statuses}"
        assert took < ANSWER_WITHIN
        assert good.requests == []  # the redirect was not followed
        assert bad.requests.count(key.kid) == 1  # one shared fetch for the three
        # The failure is remembered for the kid: the next upgrade is refused at once.
        started = time.monotonic()
        assert await upgrade_status(relay, token) == 401
        assert time.monotonic() - started < 2.0
        assert bad.requests.count(key.kid) == 1


async def test_a_failed_fetch_is_retried_after_a_while() -> None:
    key = AlbSigningKey()
    with BadKeyServer("garbage") as bad:
        verifier = AlbIdentityVerifier(ALB_ARN, bad.url, failure_retry_seconds=0.2)
        for _ in range(2):
            with pytest.raises(NotSignedIn, match="could not fetch the signing key"):
                await verifier.verify(key.token(ADA))
        assert bad.requests.count(key.kid) == 1
        await asyncio.sleep(0.3)
        with pytest.raises(NotSignedIn):
            await verifier.verify(key.token(ADA))
        assert bad.requests.count(key.kid) == 2


async def test_remembered_failures_are_bounded() -> None:
    with BadKeyServer("garbage") as bad:
        verifier = AlbIdentityVerifier(ALB_ARN, bad.url)
        for _ in range(40):
            with pytest.raises(NotSignedIn):
                await verifier.verify(AlbSigningKey().token(ADA))
        assert len(verifier.remembered_failures) <= 32
