"""ElastiCache IAM authentication tokens: the SigV4 presigned URL AWS documents, signed for
each new connection, and the settings that choose it.

The signature is recomputed here from the SigV4 specification (hashlib and hmac only), not
with botocore, and checked against a vector published by another implementation (the AWS
SDK for Java), so a wrong canonical request cannot pass by agreeing with itself.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from botocore.credentials import Credentials

from service.broker.redis import iam_auth
from service.broker.redis.iam_auth import IamCredentialProvider, iam_auth_token
from service.config import ConfigError, load_settings

SIGNED_AT = datetime.datetime(2026, 12, 6, 18, 0, 0)
KEY_ID, SECRET, SESSION = (
    "AKIDEXAMPLE",
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "the/session+token=",
)


@pytest.fixture
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *a, **k: SIGNED_AT)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(token: str, secret: str, region: str) -> str:
    """The signature of a presigned GET, per the SigV4 specification ("Create a signed AWS
    API request": canonical request, string to sign, derived key)."""
    url = urlsplit(f"http://{token}")
    params = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True)]
    signed = [(k, v) for k, v in params if k != "X-Amz-Signature"]
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(signed))
    timestamp = dict(params)["X-Amz-Date"]
    canonical = "\n".join(
        ["GET", "/", query, f"host:{url.netloc}", "", "host", hashlib.sha256(b"").hexdigest()]
    )
    scope = f"{timestamp[:8]}/{region}/elasticache/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret).encode()
    for part in (timestamp[:8], region, "elasticache", "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.usefixtures("fixed_time")
def test_the_token_is_the_documented_presigned_url() -> None:
    token = iam_auth_token(
        Credentials(KEY_ID, SECRET, SESSION),
        user_id="chat-relay-prod",
        cache_name="Chat-Relay-Prod",
        region="eu-west-1",
    )
    assert not token.startswith("http")  # AWS: the scheme is left off
    host, _, query = token.partition("/?")
    assert host == "chat-relay-prod"  # the replication group id, in lower case
    params = dict(parse_qsl(query))
    assert list(params)[:2] == ["Action", "User"]  # the operation, then the auth parameters
    assert params["Action"] == "connect" and params["User"] == "chat-relay-prod"
    assert "ResourceType" not in params  # only serverless caches sign one
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Credential"] == f"{KEY_ID}/20261206/eu-west-1/elasticache/aws4_request"
    assert params["X-Amz-Date"] == "20261206T180000Z"
    assert params["X-Amz-Expires"] == "900"  # 15 minutes
    assert params["X-Amz-SignedHeaders"] == "host"
    assert params["X-Amz-Security-Token"] == SESSION  # the task role's session token
    assert params["X-Amz-Signature"] == expected_signature(token, SECRET, "eu-west-1")


def test_a_serverless_token_matches_a_published_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vector of an AWS SDK for Java implementation (ResourceType=ServerlessCache)."""
    at = datetime.datetime(2024, 8, 2, 12, 11, 50)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *a, **k: at)
    token = iam_auth_token(
        Credentials("accessKey", "secretKey"),
        user_id="user123",
        cache_name="my-cache",
        region="eu-west-1",
        serverless=True,
    )
    assert token.startswith("my-cache/?Action=connect&User=user123&ResourceType=ServerlessCache&")
    signature = dict(parse_qsl(urlsplit(f"http://{token}").query))["X-Amz-Signature"]
    assert signature == "5dda5db919b1337db6596b2a608924bc10197fb39289b933b60bdb114d5a70dc"
    assert signature == expected_signature(token, "secretKey", "eu-west-1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RotatingCredentials(Credentials):
    """Stands in for the task role's refreshable credentials: each read may differ."""

    def __init__(self) -> None:
        super().__init__(KEY_ID, SECRET, "session-1")
        self.reads = 0

    def get_frozen_credentials(self):  # type: ignore[no-untyped-def]
        self.reads += 1
        self.token = f"session-{self.reads}"
        return super().get_frozen_credentials()


def test_each_connection_gets_a_token_reused_for_a_minute_at_most() -> None:
    clock = Clock()
    credentials = RotatingCredentials()
    provider = IamCredentialProvider(
        user_id="chat-relay-prod",
        cache_name="chat-relay-prod",
        region="eu-west-1",
        credentials=credentials,
        clock=clock,
    )
    user, first = provider.get_credentials()
    assert user == "chat-relay-prod" and "X-Amz-Security-Token=session-1" in first
    clock.now += iam_auth.TOKEN_REUSE_SECONDS - 1
    assert provider.get_credentials()[1] == first  # a reconnect storm signs once
    clock.now += 1
    user, second = asyncio.run(provider.get_credentials_async())
    assert second != first and "X-Amz-Security-Token=session-2" in second  # fresh credentials
    assert provider.signed == 2
    assert iam_auth.TOKEN_REUSE_SECONDS <= iam_auth.TOKEN_LIFETIME_SECONDS / 5


def test_no_aws_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.session.Session.get_credentials", lambda self: None)
    provider = IamCredentialProvider(user_id="u", cache_name="c", region="eu-west-1")
    with pytest.raises(RuntimeError, match="no AWS credentials"):
        provider.get_credentials()


IAM = {
    "REDIS_URL": "rediss://master.chat-relay-prod.abc123.euw1.cache.amazonaws.com:6379/0",
    "REDIS_IAM_USER": "chat-relay-prod",
    "REDIS_IAM_CACHE_NAME": "chat-relay-prod",
    "AWS_REGION": "eu-west-1",
}


def test_iam_settings_load() -> None:
    settings = load_settings(IAM)
    assert settings.redis_iam_user == "chat-relay-prod" and settings.aws_region == "eu-west-1"
    assert settings.redis_max_connection_age == 39_600  # 11 h: ElastiCache cuts at 12 h


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"REDIS_AUTH_TOKEN": "s3cret-token"}, "both set: use one way to authenticate"),
        ({"REDIS_IAM_CACHE_NAME": ""}, "also needs REDIS_IAM_CACHE_NAME"),
        ({"AWS_REGION": ""}, "also needs AWS_REGION"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "only over TLS; use rediss://"),
        ({"REDIS_IAM_USER": "chat_relay"}, "is not an ElastiCache id"),
        ({"REDIS_IAM_CACHE_NAME": "ends-with-"}, "is not an ElastiCache id"),
        ({"AWS_REGION": "Ireland"}, "is not an AWS region"),
        ({"REDIS_MAX_CONNECTION_AGE": "43200"}, "out of range; use 1..42000"),
    ],
)
def test_bad_iam_settings_are_refused_with_the_fix(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**IAM, **change})


def test_a_plain_token_stays_for_redis_outside_aws() -> None:
    settings = load_settings({"REDIS_URL": "redis://10.0.0.5:6379/0", "REDIS_AUTH_TOKEN": "t"})
    assert settings.redis_auth_token == "t" and settings.redis_iam_user is None
