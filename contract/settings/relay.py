"""The relay's own settings: network, Redis, history and identity, clients, the HTTP
edge, draining."""

from __future__ import annotations

from typing import Final

from .kinds import BoolSetting, ChoiceSetting, FloatSetting, IntSetting, TextSetting

# Network.
HOST: Final = TextSetting("HOST", "127.0.0.1", "address to bind; --host overrides", "0.0.0.0")
PORT: Final = IntSetting("PORT", 8000, 1, 65535, "port to bind; --port overrides")

# Redis (unset REDIS_URL: single-server, in-process broker).
REDIS_URL: Final = TextSetting(
    "REDIS_URL",
    None,
    "redis:// or rediss:// (TLS) URL; unset: single-server",
    "redis://127.0.0.1:6379/0",
)
REDIS_AUTH_TOKEN: Final = TextSetting(
    "REDIS_AUTH_TOKEN", None, "Redis AUTH token, kept out of the URL", "s3cret-token"
)
# ElastiCache IAM authentication instead of a token (docs/operations.md): each connection
# authenticates as this user with a 15-minute token signed by the task role.
REDIS_IAM_USER: Final = TextSetting(
    "REDIS_IAM_USER",
    None,
    "ElastiCache IAM-enabled user (user id = user name); unset: REDIS_AUTH_TOKEN or none",
    "chat-relay-prod",
)
REDIS_IAM_CACHE_NAME: Final = TextSetting(
    "REDIS_IAM_CACHE_NAME",
    None,
    "REDIS_IAM_USER: the replication group id the token is signed for",
    "chat-relay-prod",
)
# ElastiCache ends an IAM-authenticated connection after 12 hours: retire ours before.
REDIS_MAX_CONNECTION_AGE: Final = FloatSetting(
    "REDIS_MAX_CONNECTION_AGE",
    39_600.0,
    1,
    42_000,
    "seconds a Redis connection is used before the relay replaces it (less up to 10 %)",
)
# Set by ECS on Fargate tasks (and by the stacks); the region IAM tokens are signed for.
AWS_REGION: Final = TextSetting(
    "AWS_REGION", None, "REDIS_IAM_USER: the cache's AWS region", "eu-west-1"
)
REDIS_CLUSTER: Final = BoolSetting(
    "REDIS_CLUSTER", False, "Redis Cluster mode: sharded Pub/Sub, one subscriber per shard"
)
# What a relay publishes on a room's channel. Every relay of this release reads both; relays
# of earlier releases read only "frame" (the protocol v1 client frame), so "frame" stays the
# default until no older task runs (docs/operations.md: the two-step upgrade).
REDIS_PUBLISH_FORMAT: Final = ChoiceSetting(
    "REDIS_PUBLISH_FORMAT",
    "frame",
    ("frame", "compact"),
    "frame: client frames, as earlier releases read them; compact: shorter events, "
    "once no earlier release runs",
)

# History, presence, identity.
HISTORY_SIZE: Final = IntSetting("HISTORY_SIZE", 100, 0, 10_000, "messages sent on join")
HISTORY_MAX_LEN: Final = IntSetting(
    "HISTORY_MAX_LEN", 1000, 1, 1_000_000, "messages kept per room (the stream cap)"
)
HISTORY_TTL_DAYS: Final = IntSetting(
    "HISTORY_TTL_DAYS", 7, 1, 3650, "a room's history expires this long after its last message"
)
MEMORY_HISTORY_BYTES: Final = IntSetting(
    "MEMORY_HISTORY_BYTES",
    64 * 2**20,
    1 << 20,
    1 << 40,
    "single-server mode: memory all rooms' history may hold",
)
IDENTITY_TTL_DAYS: Final = IntSetting(
    "IDENTITY_TTL_DAYS", 30, 1, 3650, "a resume token stays valid this long after last use"
)
IDENTITY_UNUSED_TTL: Final = IntSetting(
    "IDENTITY_UNUSED_TTL",
    3600,
    60,
    86400,
    "seconds an anonymous identity that never sent a message is kept; its first message "
    "extends it to IDENTITY_TTL_DAYS",
)
TRUSTED_PROXY_HOPS: Final = IntSetting(
    "TRUSTED_PROXY_HOPS",
    0,
    0,
    5,
    "proxies in front that append to X-Forwarded-For (the ALB: 1); the client address is "
    "that many entries from its right; 0: the socket's peer",
)
NEW_IDENTITIES_PER_MINUTE: Final = IntSetting(
    "NEW_IDENTITIES_PER_MINUTE",
    0,
    0,
    100_000,
    "anonymous identities one client address may create per minute (per process); 0: no limit",
)
NEW_ROOMS_PER_MINUTE: Final = IntSetting(
    "NEW_ROOMS_PER_MINUTE",
    0,
    0,
    100_000,
    "rooms one client address may start (first message in an empty room) per minute (per "
    "process); 0: no limit",
)
PRESENCE_TTL: Final = FloatSetting(
    "PRESENCE_TTL",
    20.0,
    3,
    3600,
    "seconds; a crashed process's members are removed within PRESENCE_TTL x 1.25",
)

# Clients.
ALLOWED_ORIGINS: Final = TextSetting(
    "ALLOWED_ORIGINS",
    None,
    "comma-separated exact origins; unset: the relay's own host",
    "https://chat.example.com",
)
PING_INTERVAL: Final = FloatSetting(
    "PING_INTERVAL", 20.0, 1, 3600, "seconds between WebSocket pings"
)
PING_TIMEOUT: Final = FloatSetting(
    "PING_TIMEOUT", 20.0, 1, 3600, "seconds to wait for a pong before closing (1011)"
)
JOIN_TIMEOUT: Final = FloatSetting(
    "JOIN_TIMEOUT", 10.0, 0.1, 600, "seconds a connection may take to join before 1008"
)
RATE_LIMIT: Final = FloatSetting(
    "RATE_LIMIT", 10.0, 0.1, 1_000_000, "frames per second per connection"
)
RATE_BURST: Final = IntSetting("RATE_BURST", 20, 1, 1_000_000, "burst of frames allowed")
MAX_CONNECTIONS: Final = IntSetting(
    "MAX_CONNECTIONS", 10_000, 1, 1_000_000, "WebSockets per process; more get 403"
)
MAX_ROOMS_PER_CONNECTION: Final = IntSetting(
    "MAX_ROOMS_PER_CONNECTION",
    50,
    1,
    10_000,
    "rooms one connection may be in (its join and subscribes); more: too_many_rooms",
)
SEND_BUFFER_BYTES: Final = IntSetting(
    "SEND_BUFFER_BYTES",
    512 * 1024,
    4096,
    1 << 30,
    "bytes unsent to one client before it is closed as too slow (1013)",
)
MAX_FRAME_BYTES: Final = IntSetting(
    "MAX_FRAME_BYTES", 65_536, 1024, 16 * 1024 * 1024, "larger frames close the connection (1009)"
)

# The HTTP edge.
REQUEST_HEAD_MAX_BYTES: Final = IntSetting(
    "REQUEST_HEAD_MAX_BYTES", 65_536, 1024, 1 << 20, "bytes of one HTTP request head; more: 431"
)
REQUEST_HEAD_MAX_HEADERS: Final = IntSetting(
    "REQUEST_HEAD_MAX_HEADERS", 100, 8, 10_000, "headers in one request head; more: 431"
)
REQUEST_HEAD_TIMEOUT: Final = FloatSetting(
    "REQUEST_HEAD_TIMEOUT", 5.0, 0.1, 300, "seconds to complete a request head; else 408"
)
MAX_HTTP_CONNECTIONS: Final = IntSetting(
    "MAX_HTTP_CONNECTIONS", 1000, 1, 1_000_000, "open non-WebSocket connections; more: 503"
)
# Longer than the load balancer's idle timeout (120 s in the stacks), so the relay never
# closes a kept-alive connection the balancer is about to reuse (a 502).
HTTP_KEEPALIVE_SECONDS: Final = IntSetting(
    "HTTP_KEEPALIVE_SECONDS", 125, 1, 4100, "seconds an idle kept-alive connection stays open"
)

# Drain.
DRAIN_SECONDS: Final = FloatSetting(
    "DRAIN_SECONDS", 20.0, 0, 110, "window over which 1012 closes are spread"
)
DRAIN_TARGET_GROUP_ARN: Final = TextSetting(
    "DRAIN_TARGET_GROUP_ARN",
    None,
    "the task's ALB target group; drain when it is draining",
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/chat-relay/0123456789abcdef",
)
DRAIN_POLL_SECONDS: Final = FloatSetting(
    "DRAIN_POLL_SECONDS", 5.0, 0.1, 60, "seconds between reads of the target's state"
)
