"""Who a connection is when the Application Load Balancer signs people in.

With an ``authenticate-cognito`` or ``authenticate-oidc`` listener rule the ALB adds
``x-amzn-oidc-data`` to every request it forwards: the user's claims as a JWT that the
load balancer itself signed (ES256, ECDSA P-256 + SHA-256). The relay believes it only
after checking it as AWS documents ("Authenticate users using an Application Load
Balancer", section "User claims encoding and signature verification"):

- the header's ``signer`` is this load balancer's ARN, checked *before* any key is
  fetched, so a token made for another load balancer costs no request;
- the public key is the PEM at ``<regional ELB key endpoint>/<kid>``; a kid's key never
  changes, so it is cached (bounded, concurrent fetches of one kid share one request);
- the key endpoint is not trusted to behave: a fetch has one deadline, redirects are not
  followed, any failure refuses every upgrade waiting for that kid (401) and is remembered
  briefly (bounded), and fetches run on their own two threads, not the loop's default
  executor (the drain's deregistration probe and the task-id lookup use that one);
- the signature (only ES256), and ``exp`` wherever the token carries it (the header, as
  documented, and the payload, where the ALB copies it);
- the ALB pads its base64url segments with ``=``, which RFC 7515 forbids; PyJWT accepts
  that padding and rejects other junk.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from contract.protocol import BIDI_CONTROLS, CLOSE_SIGN_IN_EXPIRED, MAX_NAME_CHARS

from .connection import ClientConnection
from .members import Member, signed_in_member
from .protocol import ProtocolError, clean_display_name

HEADER = "x-amzn-oidc-data"
ALGORITHM = "ES256"
KEY_FETCH_DEADLINE = 5.0  # the whole fetch: connect, answer, body
KEY_FETCH_THREADS = 2
MAX_CACHED_KEYS = 32
MAX_KEY_BYTES = 4096  # a P-256 PEM is ~180 bytes
CLOCK_SKEW_SECONDS = 5  # the ALB's clock and the task's are both NTP-synced
# A kid the endpoint did not serve is not asked for again this long: a forged header
# naming random kids cannot turn into a stream of requests to the key endpoint.
MISSING_KEY_RETRY_SECONDS = 60.0
# A fetch that failed (no answer in time, garbage, a hang-up) is not retried this long, so a
# stream of upgrades during an outage does not each wait out the deadline.
FAILED_FETCH_RETRY_SECONDS = 5.0
_KID = re.compile(r"[A-Za-z0-9-]{1,64}")
# Claims tried for the display name, in order; the first usable one wins.
NAME_CLAIMS = ("name", "preferred_username", "cognito:username", "username", "email", "sub")


class NotSignedIn(Exception):
    """The request carries no valid identity from the load balancer; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _KeyNotServed(NotSignedIn):
    """The endpoint answered, without a P-256 key for this kid (as opposed to not answering)."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    subject: str
    issuer: str
    member: Member
    expires_at: float  # the token's exp (Unix time): a connection it opened ends then

    def close_at_expiry(self, connection: ClientConnection) -> asyncio.TimerHandle:
        """End the connection when the load balancer's token does: the token was checked
        at the upgrade only, and a sign-out elsewhere must not leave it open."""
        delay = max(0.0, self.expires_at - time.time())
        return asyncio.get_running_loop().call_later(
            delay,
            connection.close_soon,
            CLOSE_SIGN_IN_EXPIRED,
            "sign-in expired; reconnect to sign in again",
        )


def public_key_endpoint(alb_arn: str) -> str:
    """Where the load balancer's region publishes its signing keys (ending in ``/``)."""
    region = alb_arn.split(":")[3]
    if region.startswith("us-gov-"):
        return f"https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}/"
    return f"https://public-keys.auth.elb.{region}.amazonaws.com/"


def display_name(claims: dict[str, Any]) -> str:
    """The first of NAME_CLAIMS that makes a valid display name (email: its local part)."""
    for claim in NAME_CLAIMS:
        value = claims.get(claim)
        if not isinstance(value, str):
            continue
        if claim == "email":
            value = value.partition("@")[0]
        value = BIDI_CONTROLS.sub("", value)  # the IdP's name is cleaned, not refused
        try:
            return clean_display_name(value.strip()[:MAX_NAME_CHARS])
        except ProtocolError:
            continue
    return "signed-in user"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer without a key (HTTPError), never a request elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class AlbIdentityVerifier:
    def __init__(
        self,
        alb_arn: str,
        key_endpoint: str | None = None,
        *,
        fetch_deadline: float = KEY_FETCH_DEADLINE,
        failure_retry_seconds: float = FAILED_FETCH_RETRY_SECONDS,
    ) -> None:
        self.alb_arn = alb_arn
        self.key_endpoint = key_endpoint or public_key_endpoint(alb_arn)
        self.fetch_deadline = fetch_deadline
        self.failure_retry_seconds = failure_retry_seconds
        self._keys: OrderedDict[str, ec.EllipticCurvePublicKey] = OrderedDict()
        self._fetching: dict[str, asyncio.Task[ec.EllipticCurvePublicKey]] = {}
        # kid -> (monotonic time until which it is not asked again, why it failed)
        self.remembered_failures: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._executor = ThreadPoolExecutor(KEY_FETCH_THREADS, thread_name_prefix="alb-key")

    async def verify(self, token: str | None) -> SignedIn:
        if not token:
            raise NotSignedIn(f"no {HEADER} header (is the listener rule authenticating?)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise NotSignedIn(f"malformed token: {exc}") from None
        if header.get("signer") != self.alb_arn:
            raise NotSignedIn("token not signed by this load balancer (signer)")
        if header.get("alg") != ALGORITHM:
            raise NotSignedIn(f"token algorithm is not {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise NotSignedIn("token has no usable key id (kid)")
        key = await self._key(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                leeway=CLOCK_SKEW_SECONDS,
                options={"verify_aud": False, "verify_iss": False, "require": ["sub"]},
            )
        except jwt.PyJWTError as exc:
            raise NotSignedIn(f"token refused: {exc}") from None
        header_exp = _check_header_expiry(header.get("exp"))
        if header_exp is None and "exp" not in claims:
            raise NotSignedIn("token has no expiry (exp)")
        expiries = [e for e in (header_exp, claims.get("exp")) if e is not None]
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise NotSignedIn("token has no subject (sub)")
        issuer = str(header.get("iss") or claims.get("iss") or "")
        member = signed_in_member(issuer, subject, display_name(claims))
        return SignedIn(subject, issuer, member, float(min(expiries)))

    async def _key(self, kid: str) -> ec.EllipticCurvePublicKey:
        key = self._keys.get(kid)
        if key is not None:
            self._keys.move_to_end(kid)
            return key
        failed = self.remembered_failures.get(kid)
        if failed is not None and time.monotonic() < failed[0]:
            raise NotSignedIn(failed[1])
        fetch = self._fetching.get(kid)
        if fetch is None:
            # A task of its own: the upgrade that started it may be cancelled (its client
            # left), the others waiting for the kid still get the answer.
            fetch = asyncio.get_running_loop().create_task(self._fetch_once(kid))
            fetch.add_done_callback(_retrieve)
            self._fetching[kid] = fetch
        return await asyncio.shield(fetch)

    async def _fetch_once(self, kid: str) -> ec.EllipticCurvePublicKey:
        """Fetch the kid's key; any failure becomes NotSignedIn, and is remembered."""
        loop = asyncio.get_running_loop()
        try:
            key = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._fetch, kid), self.fetch_deadline
            )
        except Exception as exc:
            refusal = _as_refusal(exc, self.key_endpoint + kid, self.fetch_deadline)
            wait = (
                MISSING_KEY_RETRY_SECONDS
                if isinstance(refusal, _KeyNotServed)
                else self.failure_retry_seconds
            )
            self._remember_failure(kid, time.monotonic() + wait, refusal.reason)
            raise refusal from None
        finally:
            del self._fetching[kid]
        self._keys[kid] = key
        if len(self._keys) > MAX_CACHED_KEYS:
            self._keys.popitem(last=False)
        return key

    def _remember_failure(self, kid: str, until: float, reason: str) -> None:
        self.remembered_failures[kid] = (until, reason)
        self.remembered_failures.move_to_end(kid)
        while len(self.remembered_failures) > MAX_CACHED_KEYS:
            self.remembered_failures.popitem(last=False)

    def _fetch(self, kid: str) -> ec.EllipticCurvePublicKey:
        """On a fetch thread: GET the PEM, with the deadline on every socket wait."""
        url = self.key_endpoint + kid
        try:
            with _OPENER.open(url, timeout=self.fetch_deadline) as response:
                pem = response.read(MAX_KEY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise _KeyNotServed(f"no signing key {url}: HTTP {exc.code}") from None
        try:
            key = load_pem_public_key(pem[:MAX_KEY_BYTES])
        except (ValueError, TypeError):
            raise _KeyNotServed(f"{url} did not return a PEM public key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise _KeyNotServed(f"{url} is not a P-256 key")
        return key

    def close(self) -> None:
        """Stop the fetch threads (a fetch under way ends by its own deadline)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _as_refusal(exc: Exception, url: str, deadline: float) -> NotSignedIn:
    if isinstance(exc, NotSignedIn):
        return exc
    if isinstance(exc, TimeoutError):
        return NotSignedIn(f"could not fetch the signing key {url}: no answer in {deadline:g} s")
    detail = f"{type(exc).__name__}: {exc}"[:200]
    return NotSignedIn(f"could not fetch the signing key {url}: {detail}")


def _retrieve(fetch: asyncio.Task[Any]) -> None:
    """Mark a fetch's failure as seen: every waiter re-raises it itself, if any is left."""
    if not fetch.cancelled():
        fetch.exception()


def _check_header_expiry(exp: Any) -> float | None:
    if exp is None:
        return None
    try:
        expires = float(exp)
    except (TypeError, ValueError):
        raise NotSignedIn("token header exp is not a time") from None
    if expires + CLOCK_SKEW_SECONDS < time.time():
        raise NotSignedIn("token has expired (header exp)")
    return expires
