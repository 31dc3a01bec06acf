"""AUTH_MODE=alb: the relay trusts only identities the load balancer signed.

A stand-in (harness/alb_identity.py) signs tokens as the ALB does and serves the
public key by kid on loopback; the relays under test fetch it there.
"""

from __future__ import annotations

import asyncio
import base64
import urllib.error
import urllib.request

import orjson
import pytest
from websockets.exceptions import InvalidStatus

from harness.alb_identity import ALB_ARN, OTHER_ALB_ARN, AlbSigningKey, KeyEndpoint, relay_env
from harness.client import ChatClient
from harness.ports import free_port
from harness.relay import RelayProcess
from service.identity_alb import (
    HEADER,
    AlbIdentityVerifier,
    NotSignedIn,
    display_name,
    public_key_endpoint,
)

pytestmark = pytest.mark.anyio

ADA = {"sub": "idp-user-1", "name": "Ada Lovelace", "email": "ada@example.com"}


def signed(token: str) -> dict[str, dict[str, str]]:
    return {"additional_headers": {HEADER: token}}


async def refused(relay: RelayProcess, headers: dict[str, str] | None = None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as caught:
        await ChatClient.connect(relay.ws, additional_headers=headers or {})
    assert caught.value.response.status_code == 401
    assert b"sign in first" in caught.value.response.body
    return caught.value


async def test_signed_in_person_is_one_member_with_the_identity_name(
    alb_relay: RelayProcess, signing_key: AlbSigningKey, key_endpoint: KeyEndpoint
) -> None:
    fetched_before = key_endpoint.requests.count(signing_key.kid)
    token = signing_key.token(ADA)
    async with (
        await ChatClient.connect(alb_relay.ws, **signed(token)) as tab1,
        await ChatClient.connect(alb_relay.ws, **signed(token)) as tab2,
    ):
        lobby = await tab1.join("lobby", name="ignored when signed in")
        other = await tab2.join("other-room")
        assert lobby.member["username"] == "Ada Lovelace"
        assert other.member == lobby.member
        assert lobby.member["avatar"] == f"/avatars/{lobby.member['id']}.svg"
    # Reconnecting without the resume token, with a freshly signed header: the same member.
    async with await ChatClient.connect(alb_relay.ws, **signed(signing_key.token(ADA))) as back:
        assert (await back.join("lobby")).member == lobby.member
    # Three handshakes, at most one fetch of the key: it is cached by kid.
    assert key_endpoint.requests.count(signing_key.kid) - fetched_before <= 1
    assert key_endpoint.requests.count(signing_key.kid) >= 1


async def test_the_same_identity_on_two_relays_is_one_member(
    redis_url: str, signing_key: AlbSigningKey, key_endpoint: KeyEndpoint
) -> None:
    env = relay_env(key_endpoint, REDIS_URL=redis_url)
    with RelayProcess(env) as one, RelayProcess(env) as two:
        async with (
            await ChatClient.connect(one.ws, **signed(signing_key.token(ADA))) as here,
            await ChatClient.connect(two.ws, **signed(signing_key.token(ADA))) as there,
        ):
            a = await here.join("shared")
            b = await there.join("shared")
            assert a.member == b.member
            assert list(b.members["members"]) == [a.member["id"]]  # one member, two sockets


async def test_missing_header_is_refused(alb_relay: RelayProcess) -> None:
    error = await refused(alb_relay)
    assert HEADER.encode() in error.response.body
    metrics = (await asyncio.to_thread(http_get, f"{alb_relay.http}/metrics", {}))[2].decode()
    assert 'chat_relay_connections_refused_total{reason="not_signed_in"}' in metrics


async def test_expired_token_is_refused(alb_relay: RelayProcess, signing_key) -> None:
    await refused(alb_relay, {HEADER: signing_key.token(ADA, expires_in=-60)})


async def test_wrong_signer_is_refused_without_fetching_a_key(
    alb_relay: RelayProcess, key_endpoint: KeyEndpoint
) -> None:
    stranger = AlbSigningKey()  # a key the endpoint does not know
    key_endpoint.keys[stranger.kid] = stranger.public_pem  # even if it did
    error = await refused(alb_relay, {HEADER: stranger.token(ADA, signer=OTHER_ALB_ARN)})
    assert b"signer" in error.response.body
    assert stranger.kid not in key_endpoint.requests


async def test_token_signed_by_the_wrong_key_is_refused(
    alb_relay: RelayProcess, signing_key: AlbSigningKey
) -> None:
    impostor = AlbSigningKey()
    # Claims the real kid, so the relay checks it against the real public key.
    await refused(alb_relay, {HEADER: impostor.token(ADA, kid=signing_key.kid)})


async def test_unknown_key_id_is_refused(alb_relay: RelayProcess) -> None:
    await refused(alb_relay, {HEADER: AlbSigningKey().token(ADA)})


async def test_tampered_payload_is_refused(alb_relay: RelayProcess, signing_key) -> None:
    header, _, signature = signing_key.token(ADA).split(".")
    forged = {**ADA, "sub": "someone-else", "name": "Mallory"}
    payload = base64.urlsafe_b64encode(orjson.dumps(forged)).decode()
    await refused(alb_relay, {HEADER: f"{header}.{payload}.{signature}"})


def http_get(url: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object) -> None:
        return None


def test_session_endpoint_tells_the_page_who_is_signed_in(
    alb_relay: RelayProcess, signing_key: AlbSigningKey
) -> None:
    status, _, body = http_get(f"{alb_relay.http}/auth/session", {HEADER: signing_key.token(ADA)})
    session = orjson.loads(body)
    assert status == 200
    assert session["mode"] == "alb" and session["signed_in"] is True
    assert session["member"]["username"] == "Ada Lovelace"
    assert session["logout_url"] == "/auth/logout"
    status, _, body = http_get(f"{alb_relay.http}/auth/session", {})
    assert status == 401 and orjson.loads(body)["signed_in"] is False


def test_logout_expires_the_alb_session_cookie_shards(alb_relay: RelayProcess) -> None:
    request = urllib.request.Request(
        f"{alb_relay.http}/auth/logout", method="POST", headers={"Origin": alb_relay.http}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert orjson.loads(response.read())["next"] == "/"
        cookies = response.headers.get_all("set-cookie")
    for shard in range(4):
        cleared = [c for c in cookies if c.startswith(f"AWSELBAuthSessionCookie-{shard}=")]
        assert cleared and "Max-Age=0" in cleared[0] and "Secure" in cleared[0]


def test_anonymous_relay_says_so(relay: RelayProcess) -> None:
    status, _, body = http_get(f"{relay.http}/auth/session", {})
    assert (status, orjson.loads(body)) == (200, {"mode": "none", "signed_in": False})
    request = urllib.request.Request(f"{relay.http}/auth/logout", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 404


@pytest.mark.parametrize(
    ("claims", "name"),
    [
        ({"name": " Ada ", "preferred_username": "ada"}, "Ada"),
        ({"name": "\u200b", "preferred_username": "ada_l"}, "ada_l"),
        ({"cognito:username": "ada-cognito"}, "ada-cognito"),
        ({"email": "ada@example.com"}, "ada"),
        ({"name": "bad\nname", "sub": "1234"}, "1234"),
        ({"name": "x" * 100}, "x" * 40),
        ({"name": "Bob\u202egnp.exe"}, "Bobgnp.exe"),  # bidi controls cleaned, not refused
        ({"name": "\u2066\u2069", "preferred_username": "bob"}, "bob"),
        ({}, "signed-in user"),
    ],
)
def test_display_name_claims_and_fallbacks(claims: dict, name: str) -> None:
    assert display_name(claims) == name


def test_key_endpoint_is_the_load_balancers_region() -> None:
    assert public_key_endpoint(ALB_ARN) == "https://public-keys.auth.elb.eu-west-1.amazonaws.com/"


async def test_a_kid_the_endpoint_does_not_serve_is_not_asked_again(
    key_endpoint: KeyEndpoint,
) -> None:
    verifier = AlbIdentityVerifier(ALB_ARN, key_endpoint.url)
    stranger = AlbSigningKey()
    for _ in range(3):
        with pytest.raises(NotSignedIn, match="HTTP 404"):
            await verifier.verify(stranger.token(ADA))
    assert key_endpoint.requests.count(stranger.kid) == 1


async def test_an_unreachable_key_endpoint_is_asked_again() -> None:
    key = AlbSigningKey()
    port = free_port()
    verifier = AlbIdentityVerifier(ALB_ARN, f"http://127.0.0.1:{port}/", failure_retry_seconds=0.2)
    with pytest.raises(NotSignedIn, match="could not fetch the signing key"):
        await verifier.verify(key.token(ADA))
    await asyncio.sleep(0.3)  # a failure is remembered briefly, then asked again
    with KeyEndpoint(key, port=port):  # the endpoint is back: the next upgrade succeeds
        signed_in = await verifier.verify(key.token(ADA))
    assert (signed_in.subject, signed_in.member.username) == ("idp-user-1", "Ada Lovelace")
