"""Settings: read from the environment once, validated in one place.

Every setting's name, default and bounds or choices come from ``contract.settings``, the
list the stacks and the README's settings table share; this module maps each to a field
of ``Settings`` and parses it: numbers, booleans and choices with ``config_values``, the
formats that bounds cannot express (URLs, ARNs, origins) with ``config_formats``. A bad
value stops the process at start with a message naming the variable, what was wrong and an
example.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from contract import settings as contract
from contract.settings import (
    BoolSetting,
    ChoiceSetting,
    FloatSetting,
    IntSetting,
    Setting,
    TextSetting,
)

from . import config_formats as formats
from . import config_values as values
from .config_formats import ConfigError

__all__ = ["SETTINGS", "ConfigError", "Settings", "load_settings"]


def _text_default(setting: TextSetting) -> str:
    """The default of a text setting that has one (the contract's test checks they do)."""
    if setting.default is None:
        raise TypeError(f"{setting.name} has no default")
    return setting.default


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = _text_default(contract.HOST)
    port: int = contract.PORT.default
    redis_url: str | None = contract.REDIS_URL.default
    redis_auth_token: str | None = contract.REDIS_AUTH_TOKEN.default
    redis_iam_user: str | None = contract.REDIS_IAM_USER.default
    redis_iam_cache_name: str | None = contract.REDIS_IAM_CACHE_NAME.default
    redis_max_connection_age: float = contract.REDIS_MAX_CONNECTION_AGE.default
    aws_region: str | None = contract.AWS_REGION.default
    redis_cluster: bool = contract.REDIS_CLUSTER.default
    redis_publish_format: str = contract.REDIS_PUBLISH_FORMAT.default
    history_size: int = contract.HISTORY_SIZE.default
    history_max_len: int = contract.HISTORY_MAX_LEN.default
    allowed_origins: tuple[str, ...] = ()  # unset: only the relay's own host
    ping_interval: float = contract.PING_INTERVAL.default
    ping_timeout: float = contract.PING_TIMEOUT.default
    join_timeout: float = contract.JOIN_TIMEOUT.default
    rate_limit: float = contract.RATE_LIMIT.default
    rate_burst: int = contract.RATE_BURST.default
    max_connections: int = contract.MAX_CONNECTIONS.default
    max_rooms_per_connection: int = contract.MAX_ROOMS_PER_CONNECTION.default
    send_buffer_bytes: int = contract.SEND_BUFFER_BYTES.default
    max_frame_bytes: int = contract.MAX_FRAME_BYTES.default
    request_head_max_bytes: int = contract.REQUEST_HEAD_MAX_BYTES.default
    request_head_max_headers: int = contract.REQUEST_HEAD_MAX_HEADERS.default
    request_head_timeout: float = contract.REQUEST_HEAD_TIMEOUT.default
    max_http_connections: int = contract.MAX_HTTP_CONNECTIONS.default
    http_keepalive_seconds: int = contract.HTTP_KEEPALIVE_SECONDS.default
    drain_seconds: float = contract.DRAIN_SECONDS.default
    drain_target_group_arn: str | None = contract.DRAIN_TARGET_GROUP_ARN.default
    drain_poll_seconds: float = contract.DRAIN_POLL_SECONDS.default
    presence_ttl: float = contract.PRESENCE_TTL.default
    identity_ttl_days: int = contract.IDENTITY_TTL_DAYS.default
    identity_unused_ttl: int = contract.IDENTITY_UNUSED_TTL.default
    trusted_proxy_hops: int = contract.TRUSTED_PROXY_HOPS.default
    new_identities_per_minute: int = contract.NEW_IDENTITIES_PER_MINUTE.default
    new_rooms_per_minute: int = contract.NEW_ROOMS_PER_MINUTE.default
    history_ttl_days: int = contract.HISTORY_TTL_DAYS.default
    memory_history_bytes: int = contract.MEMORY_HISTORY_BYTES.default
    log_level: str = contract.LOG_LEVEL.default
    log_rate_limit: float = contract.LOG_RATE_LIMIT.default
    metrics_endpoint: bool = contract.METRICS_ENDPOINT.default
    metrics_port: int = contract.METRICS_PORT.default
    metrics_emf_interval: float = contract.METRICS_EMF_INTERVAL.default
    metrics_namespace: str = _text_default(contract.METRICS_NAMESPACE)
    metrics_service_name: str = _text_default(contract.METRICS_SERVICE_NAME)
    metrics_task_id: str | None = contract.METRICS_TASK_ID.default
    ecs_metadata_uri: str | None = contract.ECS_CONTAINER_METADATA_URI_V4.default
    event_bus_name: str | None = contract.EVENT_BUS_NAME.default
    event_buffer_size: int = contract.EVENT_BUFFER_SIZE.default
    auth_mode: str = contract.AUTH_MODE.default
    alb_arn: str | None = contract.ALB_ARN.default
    alb_public_key_url: str | None = contract.ALB_PUBLIC_KEY_URL.default
    auth_logout_url: str | None = contract.AUTH_LOGOUT_URL.default
    auth_session_cookie: str = _text_default(contract.AUTH_SESSION_COOKIE)
    server_api_keys: tuple[str, ...] = ()  # unset: the server API is off (404)
    api_rate_limit: float = contract.API_RATE_LIMIT.default
    api_rate_burst: int = contract.API_RATE_BURST.default
    room_token_secret: str | None = contract.ROOM_TOKEN_SECRET.default
    attachment_max_bytes: int = contract.ATTACHMENT_MAX_BYTES.default
    attachment_types: tuple[str, ...] = tuple(_text_default(contract.ATTACHMENT_TYPES).split(","))
    attachment_uploads_per_minute: int = contract.ATTACHMENT_UPLOADS_PER_MINUTE.default
    attachment_link_seconds: int = contract.ATTACHMENT_LINK_SECONDS.default
    attachment_dir: str | None = contract.ATTACHMENT_DIR.default
    attachment_bucket: str | None = contract.ATTACHMENT_BUCKET.default
    attachment_scan_queue_url: str | None = contract.ATTACHMENT_SCAN_QUEUE_URL.default

    @property
    def single_server(self) -> bool:
        return self.redis_url is None


# (variable name, raw value) -> the field's value; raises ConfigError.
Parser = Callable[[str, str], object]


# The text settings, each with its format; numbers, booleans and choices need none.
_TEXT_FORMATS: dict[str, Parser] = {
    contract.HOST.name: lambda n, r: r.strip() or _text_default(contract.HOST),
    contract.REDIS_URL.name: formats.redis_url,
    contract.REDIS_AUTH_TOKEN.name: formats.token,
    contract.REDIS_IAM_USER.name: formats.elasticache_name,
    contract.REDIS_IAM_CACHE_NAME.name: formats.elasticache_name,
    contract.AWS_REGION.name: formats.region,
    contract.ALLOWED_ORIGINS.name: formats.origins,
    contract.DRAIN_TARGET_GROUP_ARN.name: formats.target_group_arn,
    contract.METRICS_NAMESPACE.name: formats.namespace,
    contract.METRICS_SERVICE_NAME.name: formats.dimension,
    contract.METRICS_TASK_ID.name: formats.optional_dimension,
    contract.ECS_CONTAINER_METADATA_URI_V4.name: formats.token,
    contract.EVENT_BUS_NAME.name: formats.event_bus,
    contract.ALB_ARN.name: formats.alb_arn,
    contract.ALB_PUBLIC_KEY_URL.name: formats.key_url,
    contract.AUTH_LOGOUT_URL.name: formats.https_url,
    contract.AUTH_SESSION_COOKIE.name: formats.cookie_name,
    contract.SERVER_API_KEYS.name: formats.api_keys,
    contract.ROOM_TOKEN_SECRET.name: formats.room_token_secret,
    contract.ATTACHMENT_TYPES.name: formats.content_types,
    contract.ATTACHMENT_DIR.name: formats.token,
    contract.ATTACHMENT_BUCKET.name: formats.token,
    contract.ATTACHMENT_SCAN_QUEUE_URL.name: formats.token,
}
# Fields not named after their variable (which ECS, not the relay, chose).
_FIELD_NAMES = {contract.ECS_CONTAINER_METADATA_URI_V4.name: "ecs_metadata_uri"}


def _parser(setting: Setting) -> Parser:
    match setting:
        case IntSetting():
            return lambda _, raw: values.whole_number(setting, raw)
        case FloatSetting():
            return lambda _, raw: values.number(setting, raw)
        case BoolSetting():
            return lambda _, raw: values.boolean(setting, raw)
        case ChoiceSetting():
            return lambda _, raw: values.choice(setting, raw)
        case _:
            return _TEXT_FORMATS[setting.name]


# Environment variable -> (field name, parser): every setting the relay reads.
SETTINGS: dict[str, tuple[str, Parser]] = {
    s.name: (_FIELD_NAMES.get(s.name, s.name.lower()), _parser(s)) for s in contract.ALL
}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from ``environ`` (default ``os.environ``); ``overrides`` win (CLI flags)."""
    environ = os.environ if environ is None else environ
    # Each parser returns its own field's type; Settings' annotations say which.
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
    _check_together(settings)
    return settings


def _check_together(settings: Settings) -> None:
    """Settings that are valid alone but not in this combination."""
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
    _check_redis_auth(settings)
    _check_sign_in(settings)
    if settings.drain_target_group_arn and not settings.ecs_metadata_uri:
        raise ConfigError(
            "DRAIN_TARGET_GROUP_ARN needs ECS_CONTAINER_METADATA_URI_V4 (ECS sets it) to learn "
            "this task's address; unset DRAIN_TARGET_GROUP_ARN outside ECS"
        )
    if settings.metrics_port == settings.port:
        raise ConfigError(
            f"METRICS_PORT={settings.metrics_port} is PORT: metrics need a port of their own "
            "(one the load balancer does not forward to), or METRICS_PORT=0"
        )
    if settings.history_size > settings.history_max_len:
        raise ConfigError(
            f"HISTORY_SIZE={settings.history_size} exceeds HISTORY_MAX_LEN="
            f"{settings.history_max_len}; stored history must cover what a join sends"
        )


def _check_redis_auth(settings: Settings) -> None:
    """One way to authenticate to Redis: a token, or ElastiCache IAM (which needs TLS)."""
    iam = {
        "REDIS_IAM_USER": settings.redis_iam_user,
        "REDIS_IAM_CACHE_NAME": settings.redis_iam_cache_name,
    }
    if not any(iam.values()):
        return
    if settings.redis_auth_token is not None:
        raise ConfigError(
            "REDIS_AUTH_TOKEN and REDIS_IAM_USER are both set: use one way to authenticate; "
            "unset REDIS_AUTH_TOKEN on ElastiCache with IAM, or REDIS_IAM_* elsewhere"
        )
    missing = [name for name, value in iam.items() if value is None]
    if settings.aws_region is None:
        missing.append("AWS_REGION")
    if missing:
        raise ConfigError(
            f"ElastiCache IAM authentication also needs {', '.join(missing)}: the IAM user, "
            "the replication group id and the region the token is signed for"
        )
    if urlsplit(settings.redis_url or "").scheme != "rediss":
        raise ConfigError(
            f"REDIS_URL={settings.redis_url!r}: ElastiCache accepts IAM authentication only "
            "over TLS; use rediss://"
        )


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
