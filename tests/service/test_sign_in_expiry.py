"""A signed-in socket does not outlive its sign-in (issue 27, item 5): the relay closes it
with 4001 when the load balancer's token expires, and Sign out is a same-origin POST."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import orjson
import pytest

from contract.protocol import CLOSE_SIGN_IN_EXPIRED
from harness.alb_identity import AlbSigningKey
from harness.client import ChatClient
from harness.relay import RelayProcess
from service.identity_alb import HEADER

pytestmark = pytest.mark.anyio

GRACE = {"sub": "idp-user-9", "name": "Grace"}


async def test_a_signed_in_connection_is_closed_when_its_token_expires(
    alb_relay: RelayProcess, signing_key: AlbSigningKey
) -> None:
    expires = int(time.time() + 5)  # the token's exp, as the stand-in writes it
    token = signing_key.token(GRACE, expires_in=expires - time.time())
    headers = {"additional_headers": {HEADER: token}}
    async with (
        await ChatClient.connect(alb_relay.ws, **headers) as joined,
        await ChatClient.connect(alb_relay.ws, **headers) as waiting,  # never joins
    ):
        await joined.join("expiring")
        assert await joined.closed_with(timeout=15) == CLOSE_SIGN_IN_EXPIRED
        assert await waiting.closed_with(timeout=5) == CLOSE_SIGN_IN_EXPIRED
        closed = time.time()
    assert expires - 0.5 <= closed <= expires + 10  # at the exp, not before; within a minute
    # A fresh token (the ALB issues one from its session on the reconnect) is served again.
    fresh = {"additional_headers": {HEADER: signing_key.token(GRACE, expires_in=600)}}
    async with await ChatClient.connect(alb_relay.ws, **fresh) as again:
        assert (await again.join("expiring")).member["username"] == "Grace"


def logout(relay: RelayProcess, method: str, origin: str | None) -> tuple[int, dict, bytes]:
    headers = {"Origin": origin} if origin else {}
    request = urllib.request.Request(f"{relay.http}/auth/logout", method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_sign_out_is_a_post_from_the_relays_own_page(alb_relay: RelayProcess) -> None:
    # A link or an image elsewhere (GET), a form on another site, a client without Origin:
    # nobody is signed out.
    for origin in (None, alb_relay.http):
        status, headers, _ = logout(alb_relay, "GET", origin)
        assert status == 404 and "set-cookie" not in {k.lower() for k in headers}
    status, headers, _ = logout(alb_relay, "POST", "https://evil.example")
    assert status == 403 and "set-cookie" not in {k.lower() for k in headers}
    assert logout(alb_relay, "POST", None)[0] == 403
    status, _, body = logout(alb_relay, "POST", alb_relay.http)
    assert status == 200
    assert orjson.loads(body) == {"signed_out": True, "next": "/"}
