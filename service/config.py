"""Settings: read from the environment once, validated in one place.

Every setting the relay understands is declared in ``SETTINGS`` below; the README's
settings table and the CDK service stack use the same names. A bad value stops the
process at start with a message naming the variable, what was wrong and an example.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from .deregistration import TARGET_GROUP_ARN


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    redis_url: str | None = None
    redis_auth_token: str | None = None
    redis_cluster: bool = False
    history_size: int = 100
    history_max_len: int = 1000
    allowed_origins: tuple[str, ...] = ()
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    join_timeout: float = 10.0
    rate_limit: float = 10.0
    rate_burst: int = 20
    max_connections: int = 10_000
    send_buffer_bytes: int = 512 * 1024
    max_frame_bytes: int = 65_536
    request_head_max_bytes: int = 65_536
    request_head_max_headers: int = 100
    request_head_timeout: float = 5.0
    max_http_connections: int = 1000
    # Longer than the load balancer's idle timeout (120 s in the stacks), so the relay
    # never closes a kept-alive connection the balancer is about to reuse (a 502).
    http_keepalive_seconds: int = 125
    drain_seconds: float = 20.0
    drain_target_group_arn: str | None = None
    drain_poll_seconds: float = 5.0
    presence_ttl: float = 20.0
    identity_ttl_days: int = 30
    history_ttl_days: int = 7
    memory_history_bytes: int = 64 * 2**20
    log_level: str = "info"
    log_rate_limit: float = 20.0
    metrics_endpoint: bool = True
    metrics_emf_interval: float = 0.0
    metrics_namespace: str = "ChatRelay"
    metrics_service_name: str = "chat-relay"
    metrics_task_id: str | None = None
    ecs_metadata_uri: str | None = None
    auth_mode: str = "none"
    alb_arn: str | None = None
    alb_public_key_url: str | None = None
    auth_logout_url: str | None = None
    auth_session_cookie: str = "AWSELBAuthSessionCookie"

    @property
    def single_server(self) -> bool:
        return self.redis_url is None


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; e.g. {name}={low}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range; use {low}..{high}")
    return value


def _float(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; e.g. {name}={high / 2:g}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value:g} is out of range; use {low:g}..{high:g}")
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def _redis_url(name: str, raw: str) -> str | None:
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


def _origins(name: str, raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
            raise ConfigError(
                f"{name} entry {origin!r} is not an origin; use scheme://host[:port], "
                "e.g. ALLOWED_ORIGINS=https://chat.example.com,http://127.0.0.1:8000"
            )
    return origins


def _log_level(name: str, raw: str) -> str:
    level = raw.strip().lower()
    if level not in {"debug", "info", "warning", "error", "critical"}:
        raise ConfigError(f"{name}={raw!r} is not a log level; use debug|info|warning|error")
    return level


def _token(name: str, raw: str) -> str | None:
    return raw or None


def _target_group_arn(name: str, raw: str) -> str | None:
    value = raw.strip()
    if value and not TARGET_GROUP_ARN.match(value):
        raise ConfigError(
            f"{name}={raw!r} is not a target group ARN; use e.g. {name}=arn:aws:"
            "elasticloadbalancing:us-east-1:123456789012:targetgroup/chat-relay/0123456789abcdef "
            "(the stacks set it), or unset it to drain on SIGTERM only"
        )
    return value or None


def _emf_interval(name: str, raw: str) -> float:
    value = _float(name, raw, 0, 3600)
    if 0 < value < 1:
        raise ConfigError(f"{name}={value:g} is too short; use 0 (off) or 1..3600, e.g. {name}=60")
    return value


_NAMESPACE = re.compile(r"^[A-Za-z0-9._/#:-]{1,255}$")


def _namespace(name: str, raw: str) -> str:
    value = raw.strip()
    if not _NAMESPACE.match(value) or value.startswith("AWS/"):
        raise ConfigError(
            f"{name}={raw!r} is not a CloudWatch namespace; use letters, digits and ._/#:- "
            f"(not starting with AWS/), e.g. {name}=ChatRelay"
        )
    return value


def _dimension(name: str, raw: str) -> str:
    value = raw.strip()
    if not 1 <= len(value) <= 255 or not value.isascii() or not value.isprintable():
        raise ConfigError(
            f"{name}={raw!r} is not a CloudWatch dimension value; use 1..255 printable ASCII "
            f"characters, e.g. {name}=chat-relay-prod"
        )
    return value


def _auth_mode(name: str, raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in {"none", "alb"}:
        raise ConfigError(
            f"{name}={raw!r} is not a sign-in mode; use none (anonymous, chosen names) or alb "
            "(the load balancer signs people in and the relay verifies x-amzn-oidc-data)"
        )
    return mode


_ALB_ARN = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:[a-z]{2}(?:-[a-z]+)+-[0-9]:[0-9]{12}:"
    r"loadbalancer/app/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}"
)


def _alb_arn(name: str, raw: str) -> str | None:
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


def _key_url(name: str, raw: str) -> str | None:
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


def _https_url(name: str, raw: str) -> str | None:
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


def _cookie_name(name: str, raw: str) -> str:
    value = raw.strip()
    if not _COOKIE_NAME.fullmatch(value):
        raise ConfigError(
            f"{name}={raw!r} is not a cookie name; use letters, digits, '_' or '-', "
            f"e.g. {name}=AWSELBAuthSessionCookie"
        )
    return value


# Environment variable -> (field name, parser). The one list of every setting.
SETTINGS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "HOST": ("host", lambda n, r: r.strip() or "127.0.0.1"),
    "PORT": ("port", lambda n, r: _int(n, r, 1, 65535)),
    "REDIS_URL": ("redis_url", _redis_url),
    "REDIS_AUTH_TOKEN": ("redis_auth_token", _token),
    "REDIS_CLUSTER": ("redis_cluster", _bool),
    "HISTORY_SIZE": ("history_size", lambda n, r: _int(n, r, 0, 10_000)),
    "HISTORY_MAX_LEN": ("history_max_len", lambda n, r: _int(n, r, 1, 1_000_000)),
    "ALLOWED_ORIGINS": ("allowed_origins", _origins),
    "PING_INTERVAL": ("ping_interval", lambda n, r: _float(n, r, 1, 3600)),
    "PING_TIMEOUT": ("ping_timeout", lambda n, r: _float(n, r, 1, 3600)),
    "JOIN_TIMEOUT": ("join_timeout", lambda n, r: _float(n, r, 0.1, 600)),
    "RATE_LIMIT": ("rate_limit", lambda n, r: _float(n, r, 0.1, 1_000_000)),
    "RATE_BURST": ("rate_burst", lambda n, r: _int(n, r, 1, 1_000_000)),
    "MAX_CONNECTIONS": ("max_connections", lambda n, r: _int(n, r, 1, 1_000_000)),
    "SEND_BUFFER_BYTES": ("send_buffer_bytes", lambda n, r: _int(n, r, 4096, 1 << 30)),
    "MAX_FRAME_BYTES": ("max_frame_bytes", lambda n, r: _int(n, r, 1024, 16 * 1024 * 1024)),
    "REQUEST_HEAD_MAX_BYTES": ("request_head_max_bytes", lambda n, r: _int(n, r, 1024, 1 << 20)),
    "REQUEST_HEAD_MAX_HEADERS": ("request_head_max_headers", lambda n, r: _int(n, r, 8, 10_000)),
    "REQUEST_HEAD_TIMEOUT": ("request_head_timeout", lambda n, r: _float(n, r, 0.1, 300)),
    "MAX_HTTP_CONNECTIONS": ("max_http_connections", lambda n, r: _int(n, r, 1, 1_000_000)),
    "HTTP_KEEPALIVE_SECONDS": ("http_keepalive_seconds", lambda n, r: _int(n, r, 1, 4100)),
    "DRAIN_SECONDS": ("drain_seconds", lambda n, r: _float(n, r, 0, 110)),
    "DRAIN_TARGET_GROUP_ARN": ("drain_target_group_arn", _target_group_arn),
    "DRAIN_POLL_SECONDS": ("drain_poll_seconds", lambda n, r: _float(n, r, 0.1, 60)),
    "PRESENCE_TTL": ("presence_ttl", lambda n, r: _float(n, r, 3, 3600)),
    "IDENTITY_TTL_DAYS": ("identity_ttl_days", lambda n, r: _int(n, r, 1, 3650)),
    "HISTORY_TTL_DAYS": ("history_ttl_days", lambda n, r: _int(n, r, 1, 3650)),
    "MEMORY_HISTORY_BYTES": ("memory_history_bytes", lambda n, r: _int(n, r, 1 << 20, 1 << 40)),
    "LOG_LEVEL": ("log_level", _log_level),
    "LOG_RATE_LIMIT": ("log_rate_limit", lambda n, r: _float(n, r, 0.1, 1_000_000)),
    "METRICS_ENDPOINT": ("metrics_endpoint", _bool),
    "METRICS_EMF_INTERVAL": ("metrics_emf_interval", _emf_interval),
    "METRICS_NAMESPACE": ("metrics_namespace", _namespace),
    "METRICS_SERVICE_NAME": ("metrics_service_name", _dimension),
    "METRICS_TASK_ID": ("metrics_task_id", lambda n, r: _dimension(n, r) if r.strip() else None),
    # Set by ECS itself (not by the stacks): where the task id for the TaskId dimension is read.
    "ECS_CONTAINER_METADATA_URI_V4": ("ecs_metadata_uri", _token),
    "AUTH_MODE": ("auth_mode", _auth_mode),
    "ALB_ARN": ("alb_arn", _alb_arn),
    "ALB_PUBLIC_KEY_URL": ("alb_public_key_url", _key_url),
    "AUTH_LOGOUT_URL": ("auth_logout_url", _https_url),
    "AUTH_SESSION_COOKIE": ("auth_session_cookie", _cookie_name),
}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from ``environ`` (default ``os.environ``); ``overrides`` win (CLI flags)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for env_name, (field_name, parse) in SETTINGS.items():
        raw = environ.get(env_name)
        if raw is not None:
            values[field_name] = parse(env_name, raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    settings = Settings(**values)
    if settings.redis_cluster and settings.redis_url is None:
        raise ConfigError(
            "REDIS_CLUSTER=true needs REDIS_URL (the cluster's configuration endpoint)"
        )
    database = urlsplit(settings.redis_url or "").path.strip("/")
    if settings.redis_cluster and database not in ("", "0"):
        raise ConfigError(
            f"REDIS_URL={settings.redis_url!r}: a Redis Cluster has only database 0; "
            "end the URL with /0 (or no path) when REDIS_CLUSTER=true"
        )
    _check_sign_in(settings)
    if settings.drain_target_group_arn and not settings.ecs_metadata_uri:
        raise ConfigError(
            "DRAIN_TARGET_GROUP_ARN needs ECS_CONTAINER_METADATA_URI_V4 (ECS sets it) to learn "
            "this task's address; unset DRAIN_TARGET_GROUP_ARN outside ECS"
        )
    if settings.history_size > settings.history_max_len:
        raise ConfigError(
            f"HISTORY_SIZE={settings.history_size} exceeds HISTORY_MAX_LEN="
            f"{settings.history_max_len}; stored history must cover what a join sends"
        )
    return settings


def _check_sign_in(settings: Settings) -> None:
    alb_only = {
        "ALB_ARN": settings.alb_arn,
        "ALB_PUBLIC_KEY_URL": settings.alb_public_key_url,
        "AUTH_LOGOUT_URL": settings.auth_logout_url,
    }
    if settings.auth_mode == "alb" and settings.alb_arn is None:
        raise ConfigError(
            "AUTH_MODE=alb needs ALB_ARN, the load balancer whose signature the relay trusts "
            "(the signer of x-amzn-oidc-data)"
        )
    if settings.auth_mode == "none":
        stray = [name for name, value in alb_only.items() if value is not None]
        if stray:
            raise ConfigError(
                f"{', '.join(stray)} set but AUTH_MODE=none: sign-in would silently be off; "
                "set AUTH_MODE=alb or unset them"
            )
