"""The text settings' formats: what bounds cannot say (URLs, ARNs, origins, names).

Each parser takes the variable's name and its raw value and returns the parsed value or
raises ``ConfigError`` naming the variable, what is wrong and a valid example.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .deregistration import TARGET_GROUP_ARN


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def token(name: str, raw: str) -> str | None:
    return raw or None


def redis_url(name: str, raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
        raise ConfigError(
            f"{name}={raw!r} is not a Redis URL; use redis://HOST:PORT/0 "
            "(rediss:// for TLS), or unset it for single-server mode"
        )
    try:
        parts.port  # noqa: B018 - parsing the port validates it
    except ValueError:
        raise ConfigError(f"{name}={raw!r} has a bad port; e.g. redis://127.0.0.1:6379/0") from None
    return raw


def origins(name: str, raw: str) -> tuple[str, ...]:
    allowed = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in allowed:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
            raise ConfigError(
                f"{name} entry {origin!r} is not an origin; use scheme://host[:port], "
                "e.g. ALLOWED_ORIGINS=https://chat.example.com,http://127.0.0.1:8000"
            )
    return allowed


def target_group_arn(name: str, raw: str) -> str | None:
    value = raw.strip()
    if value and not TARGET_GROUP_ARN.match(value):
        raise ConfigError(
            f"{name}={raw!r} is not a target group ARN; use e.g. {name}=arn:aws:"
            "elasticloadbalancing:us-east-1:123456789012:targetgroup/chat-relay/0123456789abcdef "
            "(the stacks set it), or unset it to drain on SIGTERM only"
        )
    return value or None


_NAMESPACE = re.compile(r"^[A-Za-z0-9._/#:-]{1,255}$")


def namespace(name: str, raw: str) -> str:
    value = raw.strip()
    if not _NAMESPACE.match(value) or value.startswith("AWS/"):
        raise ConfigError(
            f"{name}={raw!r} is not a CloudWatch namespace; use letters, digits and ._/#:- "
            f"(not starting with AWS/), e.g. {name}=ChatRelay"
        )
    return value


def dimension(name: str, raw: str) -> str:
    value = raw.strip()
    if not 1 <= len(value) <= 255 or not value.isascii() or not value.isprintable():
        raise ConfigError(
            f"{name}={raw!r} is not a CloudWatch dimension value; use 1..255 printable ASCII "
            f"characters, e.g. {name}=chat-relay-prod"
        )
    return value


def optional_dimension(name: str, raw: str) -> str | None:
    return dimension(name, raw) if raw.strip() else None


# A bus name (EventBridge: 1..256 of these) or its ARN (another account's bus, or a region).
_EVENT_BUS = re.compile(
    r"[A-Za-z0-9._/-]{1,256}|arn:aws[a-z-]*:events:[a-z]{2}(?:-[a-z]+)+-[0-9]:[0-9]{12}:"
    r"event-bus/[A-Za-z0-9._/-]{1,256}"
)


def event_bus(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not _EVENT_BUS.fullmatch(value):
        raise ConfigError(
            f"{name}={raw!r} is not an EventBridge bus; use its name (letters, digits, ._-/), "
            f"e.g. {name}=chat-relay-prod-events, or its ARN, or unset it for no events"
        )
    return value


_ALB_ARN = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:[a-z]{2}(?:-[a-z]+)+-[0-9]:[0-9]{12}:"
    r"loadbalancer/app/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}"
)


def alb_arn(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not _ALB_ARN.fullmatch(value):
        raise ConfigError(
            f"{name}={raw!r} is not an Application Load Balancer ARN; e.g. {name}="
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/chat/"
            "0123456789abcdef"
        )
    return value


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def key_url(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    parts = urlsplit(value)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
    if not secure or not parts.hostname or not value.endswith("/") or parts.query:
        raise ConfigError(
            f"{name}={raw!r} is not a key endpoint; use an https:// URL ending in '/' (the key "
            "id is appended; http:// only on loopback, for a local stand-in), or unset it for "
            "the region's https://public-keys.auth.elb.<region>.amazonaws.com/"
        )
    return value


def https_url(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"{name}={raw!r} is not an https:// URL; e.g. {name}=https://chat.auth.eu-west-1."
            "amazoncognito.com/logout?client_id=abc&logout_uri=https://chat.example.com/"
        )
    return value


_COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def cookie_name(name: str, raw: str) -> str:
    value = raw.strip()
    if not _COOKIE_NAME.fullmatch(value):
        raise ConfigError(
            f"{name}={raw!r} is not a cookie name; use letters, digits, '_' or '-', "
            f"e.g. {name}=AWSELBAuthSessionCookie"
        )
    return value


API_KEY = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")
ROOM_TOKEN_SECRET_MIN_CHARS = 32


def api_keys(name: str, raw: str) -> tuple[str, ...]:
    """Bearer keys, comma-separated; two at once let a key be rotated without downtime."""
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    for index, key in enumerate(keys, 1):
        if not API_KEY.fullmatch(key):
            raise ConfigError(
                f"{name}: key {index} is not a usable bearer key; use 16-256 characters of "
                "A-Za-z0-9._~+/=- (e.g. the output of `openssl rand -hex 32`), separated by commas"
            )
    return keys


def room_token_secret(name: str, raw: str) -> str | None:
    if not raw:
        return None
    if len(raw) < ROOM_TOKEN_SECRET_MIN_CHARS:
        raise ConfigError(
            f"{name} is {len(raw)} characters; an HS256 secret needs at least "
            f"{ROOM_TOKEN_SECRET_MIN_CHARS} (e.g. the output of `openssl rand -hex 32`)"
        )
    return raw


# ElastiCache user ids and replication group ids: a letter, then letters, digits, hyphens.
_ELASTICACHE_NAME = re.compile(r"^[A-Za-z](?:-?[A-Za-z0-9])*$")


def elasticache_name(name: str, raw: str) -> str | None:
    value = raw.strip()
    if value and (len(value) > 40 or not _ELASTICACHE_NAME.match(value)):
        raise ConfigError(
            f"{name}={raw!r} is not an ElastiCache id; use a letter, then letters, digits and "
            f"single hyphens, at most 40 characters (not ending in a hyphen), e.g. "
            f"{name}=chat-relay-prod"
        )
    return value or None


_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


def region(name: str, raw: str) -> str | None:
    value = raw.strip()
    if value and not _REGION.match(value):
        raise ConfigError(f"{name}={raw!r} is not an AWS region; e.g. {name}=eu-west-1")
    return value or None


_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def content_types(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list of media types without parameters, e.g. image/png,text/plain."""
    types = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    bad = [t for t in types if not _CONTENT_TYPE.fullmatch(t)]
    if not types or bad:
        raise ConfigError(
            f"{name}={raw!r} is not a list of content types ({', '.join(bad) or 'empty'}); "
            f"use type/subtype separated by commas, e.g. {name}=image/png,application/pdf"
        )
    return types
