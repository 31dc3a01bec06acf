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
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from contract.protocol import MAX_NAME_CHARS

from .members import Member, signed_in_member
from .protocol import ProtocolError, clean_display_name

HEADER = "x-amzn-oidc-data"
ALGORITHM = "ES256"
KEY_FETCH_TIMEOUT = 5.0
MAX_CACHED_KEYS = 32
MAX_KEY_BYTES = 4096  # a P-256 PEM is ~180 bytes
CLOCK_SKEW_SECONDS = 5  # the ALB's clock and the task's are both NTP-synced
# A kid the endpoint did not serve is not asked for again this long: a forged header
# naming random kids cannot turn into a stream of requests to the key endpoint.
MISSING_KEY_RETRY_SECONDS = 60.0
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
        try:
            return clean_display_name(value.strip()[:MAX_NAME_CHARS])
        except ProtocolError:
            continue
    return "signed-in user"


class AlbIdentityVerifier:
    def __init__(self, alb_arn: str, key_endpoint: str | None = None) -> None:
        self.alb_arn = alb_arn
        self.key_endpoint = key_endpoint or public_key_endpoint(alb_arn)
        self._keys: OrderedDict[str, ec.EllipticCurvePublicKey] = OrderedDict()
        self._fetching: dict[str, asyncio.Future[ec.EllipticCurvePublicKey]] = {}
        self._missing: dict[str, tuple[float, str]] = {}  # kid -> (monotonic time, why)

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
        _check_header_expiry(header.get("exp"))
        if "exp" not in header and "exp" not in claims:
            raise NotSignedIn("token has no expiry (exp)")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise NotSignedIn("token has no subject (sub)")
        issuer = str(header.get("iss") or claims.get("iss") or "")
        return SignedIn(subject, issuer, signed_in_member(issuer, subject, display_name(claims)))

    async def _key(self, kid: str) -> ec.EllipticCurvePublicKey:
        key = self._keys.get(kid)
        if key is not None:
            self._keys.move_to_end(kid)
            return key
        missing = self._missing.get(kid)
        if missing is not None and time.monotonic() - missing[0] < MISSING_KEY_RETRY_SECONDS:
            raise NotSignedIn(missing[1])
        pending = self._fetching.get(kid)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._fetching[kid] = pending
            try:
                key = await asyncio.to_thread(self._fetch, kid)
            except NotSignedIn as exc:
                if isinstance(exc, _KeyNotServed):  # an unreachable endpoint is retried
                    self._missing[kid] = (time.monotonic(), exc.reason)
                    if len(self._missing) > MAX_CACHED_KEYS:
                        self._missing.pop(next(iter(self._missing)))
                pending.set_exception(exc)
                pending.exception()  # retrieved: waiters re-raise it themselves
                raise
            finally:
                del self._fetching[kid]
            pending.set_result(key)
            self._keys[kid] = key
            if len(self._keys) > MAX_CACHED_KEYS:
                self._keys.popitem(last=False)
            return key
        return await asyncio.shield(pending)

    def _fetch(self, kid: str) -> ec.EllipticCurvePublicKey:
        url = self.key_endpoint + kid
        try:
            with urllib.request.urlopen(url, timeout=KEY_FETCH_TIMEOUT) as response:
                pem = response.read(MAX_KEY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise _KeyNotServed(f"no signing key {url}: HTTP {exc.code}") from None
        except OSError as exc:
            raise NotSignedIn(f"could not fetch the signing key {url}: {exc}") from None
        try:
            key = load_pem_public_key(pem[:MAX_KEY_BYTES])
        except ValueError:
            raise _KeyNotServed(f"{url} did not return a PEM public key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise _KeyNotServed(f"{url} is not a P-256 key")
        return key


def _check_header_expiry(exp: Any) -> None:
    if exp is None:
        return
    try:
        expires = float(exp)
    except (TypeError, ValueError):
        raise NotSignedIn("token header exp is not a time") from None
    if expires + CLOCK_SKEW_SECONDS < time.time():
        raise NotSignedIn("token has expired (header exp)")
