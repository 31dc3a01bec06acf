"""A stand-in for the ALB's sign-in: tokens signed as the load balancer signs them, and its
regional public-key endpoint, on loopback.

As AWS documents ("Authenticate users using an Application Load Balancer", user claims
encoding): ``x-amzn-oidc-data`` is a JWT whose header holds ``alg`` ES256, ``kid``,
``signer`` (the load balancer's ARN), ``iss``, ``client`` and ``exp``; the payload holds
the IdP's user claims; each base64url segment keeps its ``=`` padding (not RFC 7515).
The key endpoint serves the public key as PEM at ``/<kid>``.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness.http_standin import LoopbackHTTPServer, QuietHandler

ALB_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/chat/0123456789abcdef"
)
OTHER_ALB_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/other/fedcba9876543210"
)
ISSUER = "https://idp.example.com"


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()  # padding kept, as the ALB does


class AlbSigningKey:
    """One of the region's signing keys: an ES256 key pair and its key id."""

    def __init__(self) -> None:
        self.kid = str(uuid.uuid4())
        self.private = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )

    def token(
        self,
        claims: dict[str, Any],
        *,
        signer: str = ALB_ARN,
        expires_in: float = 120,
        kid: str | None = None,
    ) -> str:
        exp = int(time.time() + expires_in)
        header = {
            "typ": "JWT",
            "kid": kid or self.kid,
            "alg": "ES256",
            "iss": ISSUER,
            "client": "chat-client",
            "signer": signer,
            "exp": exp,
        }
        payload = {"iss": ISSUER, "exp": exp, **claims}
        signing_input = f"{_segment(orjson.dumps(header))}.{_segment(orjson.dumps(payload))}"
        der = self.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS: raw r || s
        return f"{signing_input}.{_segment(signature)}"


class KeyEndpoint:
    """``public-keys.auth.elb.<region>.amazonaws.com`` on 127.0.0.1: PEM by kid, counted."""

    def __init__(self, *keys: AlbSigningKey, port: int = 0) -> None:
        self.keys = {key.kid: key.public_pem for key in keys}
        self.requests: list[str] = []
        endpoint = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server names
                kid = self.path.lstrip("/")
                endpoint.requests.append(kid)
                pem = endpoint.keys.get(kid)
                headers = {"content-type": "application/x-pem-file"}
                self.reply(200 if pem else 404, pem or b"no such key\n", headers)

        self.server = LoopbackHTTPServer(Handler, port)

    @property
    def url(self) -> str:
        return f"{self.server.url}/"

    def __enter__(self) -> KeyEndpoint:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def relay_env(endpoint: KeyEndpoint, **extra: str) -> dict[str, str]:
    """A relay's settings for sign-in through the stand-in."""
    return {
        "AUTH_MODE": "alb",
        "ALB_ARN": ALB_ARN,
        "ALB_PUBLIC_KEY_URL": endpoint.url,
        **extra,
    }
