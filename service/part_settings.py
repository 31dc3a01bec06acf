"""Each part's own settings, built from the relay's ``Settings`` in this one place.

A part reads a small typed object of the few values it needs (``SessionSettings``,
``AttachmentSettings``, a backend's ``MemoryBrokerSettings`` or ``RedisBrokerSettings``),
never the whole ``Settings``: what a part depends on shows in its signature, and a test builds
it in a line.
"""

from __future__ import annotations

from .attachments.settings import AttachmentSettings
from .broker.settings import DAY, MemoryBrokerSettings, RedisBrokerSettings, RedisIamSettings
from .config import Settings
from .session import SessionSettings


def backend_settings(settings: Settings) -> MemoryBrokerSettings | RedisBrokerSettings:
    """Redis when REDIS_URL is set, else the in-process backend."""
    if settings.redis_url is None:
        return MemoryBrokerSettings(
            history_max_len=settings.history_max_len,
            history_ttl=settings.history_ttl_days * DAY,
            max_history_bytes=settings.memory_history_bytes,
        )
    return redis_broker_settings(settings)


def redis_broker_settings(settings: Settings) -> RedisBrokerSettings:
    if settings.redis_url is None:
        raise ValueError("REDIS_URL is not set: the Redis backend needs it")
    return RedisBrokerSettings(
        url=settings.redis_url,
        cluster=settings.redis_cluster,
        auth_token=settings.redis_auth_token,
        iam=redis_iam_settings(settings),
        max_connection_age=settings.redis_max_connection_age,
        publish_format=settings.redis_publish_format,
        history_max_len=settings.history_max_len,
        history_ttl=settings.history_ttl_days * DAY,
        presence_ttl=settings.presence_ttl,
        identity_ttl=settings.identity_ttl_days * DAY,
    )


def redis_iam_settings(settings: Settings) -> RedisIamSettings | None:
    if settings.redis_iam_user is None:
        return None
    # config.py refuses an IAM user without the cache name and region.
    assert settings.redis_iam_cache_name is not None and settings.aws_region is not None
    return RedisIamSettings(
        user_id=settings.redis_iam_user,
        cache_name=settings.redis_iam_cache_name,
        region=settings.aws_region,
    )


def attachment_settings(settings: Settings) -> AttachmentSettings:
    return AttachmentSettings(
        max_bytes=settings.attachment_max_bytes,
        types=settings.attachment_types,
        uploads_per_minute=settings.attachment_uploads_per_minute,
        link_seconds=settings.attachment_link_seconds,
        folder=settings.attachment_dir,
        bucket=settings.attachment_bucket,
        record_ttl=settings.history_ttl_days * DAY,
        region=settings.aws_region,
    )


def session_settings(settings: Settings) -> SessionSettings:
    return SessionSettings(
        send_buffer_bytes=settings.send_buffer_bytes,
        rate_limit=settings.rate_limit,
        rate_burst=settings.rate_burst,
        join_timeout=settings.join_timeout,
        history_size=settings.history_size,
        max_rooms_per_connection=settings.max_rooms_per_connection,
        identity_unused_ttl=settings.identity_unused_ttl,
        trusted_proxy_hops=settings.trusted_proxy_hops,
        new_identities_per_minute=settings.new_identities_per_minute,
        new_rooms_per_minute=settings.new_rooms_per_minute,
    )
