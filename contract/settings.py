"""The relay's environment variables: name, default, bounds or choices, meaning.

The relay (service/config.py) parses and validates exactly these; the stacks set them on
the ECS task and check a stage's values against the same bounds; the README's settings
table documents them (a test compares the two). A value outside these bounds stops the
relay at start, so a stack that writes one would deploy tasks that never become healthy.

Formats that bounds cannot express (a Redis URL, an ARN, an origin list) are ``TextSetting``:
the relay checks them and says what a valid one looks like (``example``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from contract import metrics

# The spellings the relay accepts for a boolean (case-insensitive, surrounding blanks ignored).
TRUE_WORDS: Final = ("1", "true", "yes", "on")
FALSE_WORDS: Final = ("0", "false", "no", "off", "")


def _number_text(value: float) -> str:
    """20.0 -> "20", 0.5 -> "0.5": what a person (or a stack) would write."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True, slots=True)
class IntSetting:
    name: str
    default: int
    low: int
    high: int
    meaning: str

    def accepts(self, value: int) -> bool:
        return self.low <= value <= self.high

    def env_value(self, value: int) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class FloatSetting:
    name: str
    default: float
    low: float
    high: float
    meaning: str
    # A value below ``low`` that means "off" (METRICS_EMF_INTERVAL=0); None: no such value.
    off: float | None = None

    def accepts(self, value: float) -> bool:
        return value == self.off or self.low <= value <= self.high

    def env_value(self, value: float) -> str:
        return _number_text(value)


@dataclass(frozen=True, slots=True)
class BoolSetting:
    name: str
    default: bool
    meaning: str

    def accepts(self, value: bool) -> bool:
        return isinstance(value, bool)

    def env_value(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class ChoiceSetting:
    name: str
    default: str
    choices: tuple[str, ...]  # lower case; the relay lower-cases what it reads
    meaning: str

    def accepts(self, value: str) -> bool:
        return value in self.choices

    def env_value(self, value: str) -> str:
        return value


@dataclass(frozen=True, slots=True)
class TextSetting:
    name: str
    default: str | None  # None: unset
    meaning: str
    example: str  # a valid value, for error messages and docs

    def env_value(self, value: str) -> str:
        return value


Setting = IntSetting | FloatSetting | BoolSetting | ChoiceSetting | TextSetting

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

# Logs and metrics.
LOG_LEVEL: Final = ChoiceSetting(
    "LOG_LEVEL",
    "info",
    ("debug", "info", "warning", "error", "critical"),
    "JSON log lines on stderr at this level and above",
)
LOG_RATE_LIMIT: Final = FloatSetting(
    "LOG_RATE_LIMIT", 20.0, 0.1, 1_000_000, "log lines per second per kind of event"
)
METRICS_ENDPOINT: Final = BoolSetting(
    "METRICS_ENDPOINT", True, "serve Prometheus text at GET /metrics"
)
# Metrics on a port of their own: not the load balancer's target port, so no spelling of
# /metrics reaches them from the internet. 0: on the main port (METRICS_ENDPOINT).
METRICS_PORT: Final = IntSetting(
    "METRICS_PORT",
    0,
    0,
    65535,
    "serve GET /metrics on this port instead (not PORT); the main port then answers 404 for "
    "it; 0: on the main port",
)
METRICS_EMF_INTERVAL: Final = FloatSetting(
    "METRICS_EMF_INTERVAL",
    0.0,
    1,
    3600,
    "seconds between CloudWatch EMF lines on stdout; 0: off",
    off=0.0,
)
METRICS_NAMESPACE: Final = TextSetting(
    "METRICS_NAMESPACE",
    metrics.NAMESPACE,
    "CloudWatch namespace of the EMF metrics",
    metrics.NAMESPACE,
)
METRICS_SERVICE_NAME: Final = TextSetting(
    "METRICS_SERVICE_NAME", "chat-relay", "the ServiceName dimension", "chat-relay-prod"
)
METRICS_TASK_ID: Final = TextSetting(
    "METRICS_TASK_ID",
    None,
    "the TaskId dimension; unset: the ECS task id, else the hostname",
    "relay-1",
)
# Set by ECS itself, never by the stacks: the task metadata endpoint (v4).
ECS_CONTAINER_METADATA_URI_V4: Final = TextSetting(
    "ECS_CONTAINER_METADATA_URI_V4",
    None,
    "ECS task metadata endpoint (set by ECS)",
    "http://169.254.170.2/v4/0123",
)

# Events out (EventBridge; docs/events.md).
EVENT_BUS_NAME: Final = TextSetting(
    "EVENT_BUS_NAME",
    None,
    "EventBridge bus (name or ARN) the relay sends chat events to; unset: no events",
    "chat-relay-prod-events",
)
EVENT_BUFFER_SIZE: Final = IntSetting(
    "EVENT_BUFFER_SIZE",
    10_000,
    10,
    1_000_000,
    "events held while the bus is unreachable; more are dropped and counted",
)

# Sign-in at the load balancer.
AUTH_MODE: Final = ChoiceSetting(
    "AUTH_MODE",
    "none",
    ("none", "alb"),
    "none: anonymous, chosen names; alb: the load balancer signs people in",
)
ALB_ARN: Final = TextSetting(
    "ALB_ARN",
    None,
    "AUTH_MODE=alb: the load balancer whose signature is trusted",
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/chat/0123456789abcdef",
)
ALB_PUBLIC_KEY_URL: Final = TextSetting(
    "ALB_PUBLIC_KEY_URL",
    None,
    "AUTH_MODE=alb: where signing keys are fetched",
    "https://public-keys.auth.elb.eu-west-1.amazonaws.com/",
)
AUTH_LOGOUT_URL: Final = TextSetting(
    "AUTH_LOGOUT_URL",
    None,
    "AUTH_MODE=alb: the identity provider's logout endpoint",
    "https://chat.auth.eu-west-1.amazoncognito.com/logout",
)
AUTH_SESSION_COOKIE: Final = TextSetting(
    "AUTH_SESSION_COOKIE",
    "AWSELBAuthSessionCookie",
    "the ALB session cookie's name",
    "AWSELBAuthSessionCookie",
)

# The server HTTP API and private rooms (docs/protocol.md). On AWS both secrets come from
# Secrets Manager, never from a plain environment value.
SERVER_API_KEYS: Final = TextSetting(
    "SERVER_API_KEYS",
    None,
    "comma-separated bearer keys of the server API (/api/v1); unset: every /api/ path is 404",
    "k1-0123456789abcdef,k2-fedcba9876543210",
)
API_RATE_LIMIT: Final = FloatSetting(
    "API_RATE_LIMIT", 200.0, 0.1, 1_000_000, "server API requests per second per key"
)
API_RATE_BURST: Final = IntSetting(
    "API_RATE_BURST", 400, 1, 1_000_000, "server API requests a key may send in a burst"
)
ROOM_TOKEN_SECRET: Final = TextSetting(
    "ROOM_TOKEN_SECRET",
    None,
    "HS256 secret of private rooms' room_token (32+ characters); unset: private rooms refuse",
    "0123456789abcdef0123456789abcdef",
)

# Attachments (docs/protocol.md, Attachments).
ATTACHMENT_MAX_BYTES: Final = IntSetting(
    "ATTACHMENT_MAX_BYTES", 25 * 1024 * 1024, 1, 5 * 1024**3, "largest attachment accepted, bytes"
)
ATTACHMENT_TYPES: Final = TextSetting(
    "ATTACHMENT_TYPES",
    "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain",
    "content types an attachment may declare (comma-separated)",
    "image/png,application/pdf",
)
ATTACHMENT_UPLOADS_PER_MINUTE: Final = IntSetting(
    "ATTACHMENT_UPLOADS_PER_MINUTE", 10, 1, 10_000, "upload slots one member may get per minute"
)
ATTACHMENT_LINK_SECONDS: Final = IntSetting(
    "ATTACHMENT_LINK_SECONDS", 300, 10, 3600, "how long upload forms and download links work"
)
ATTACHMENT_DIR: Final = TextSetting(
    "ATTACHMENT_DIR",
    None,
    "single server: folder holding attachments (unset: a temporary folder, lost at exit)",
    "/var/lib/chat-relay/attachments",
)
ATTACHMENT_BUCKET: Final = TextSetting(
    "ATTACHMENT_BUCKET",
    None,
    "S3 bucket for attachments (unset: the local store, unscanned)",
    "chat-relay-prod-attachments",
)
ATTACHMENT_SCAN_QUEUE_URL: Final = TextSetting(
    "ATTACHMENT_SCAN_QUEUE_URL",
    None,
    "SQS queue of GuardDuty scan-result events for ATTACHMENT_BUCKET",
    "https://sqs.eu-west-1.amazonaws.com/123456789012/chat-relay-prod-scan-results",
)

ALL: Final[tuple[Setting, ...]] = (
    HOST,
    PORT,
    REDIS_URL,
    REDIS_AUTH_TOKEN,
    REDIS_IAM_USER,
    REDIS_IAM_CACHE_NAME,
    REDIS_MAX_CONNECTION_AGE,
    AWS_REGION,
    REDIS_CLUSTER,
    REDIS_PUBLISH_FORMAT,
    HISTORY_SIZE,
    HISTORY_MAX_LEN,
    HISTORY_TTL_DAYS,
    MEMORY_HISTORY_BYTES,
    IDENTITY_TTL_DAYS,
    IDENTITY_UNUSED_TTL,
    TRUSTED_PROXY_HOPS,
    NEW_IDENTITIES_PER_MINUTE,
    NEW_ROOMS_PER_MINUTE,
    PRESENCE_TTL,
    ALLOWED_ORIGINS,
    PING_INTERVAL,
    PING_TIMEOUT,
    JOIN_TIMEOUT,
    RATE_LIMIT,
    RATE_BURST,
    MAX_CONNECTIONS,
    MAX_ROOMS_PER_CONNECTION,
    SEND_BUFFER_BYTES,
    MAX_FRAME_BYTES,
    REQUEST_HEAD_MAX_BYTES,
    REQUEST_HEAD_MAX_HEADERS,
    REQUEST_HEAD_TIMEOUT,
    MAX_HTTP_CONNECTIONS,
    HTTP_KEEPALIVE_SECONDS,
    DRAIN_SECONDS,
    DRAIN_TARGET_GROUP_ARN,
    DRAIN_POLL_SECONDS,
    LOG_LEVEL,
    LOG_RATE_LIMIT,
    METRICS_ENDPOINT,
    METRICS_PORT,
    METRICS_EMF_INTERVAL,
    METRICS_NAMESPACE,
    METRICS_SERVICE_NAME,
    METRICS_TASK_ID,
    ECS_CONTAINER_METADATA_URI_V4,
    EVENT_BUS_NAME,
    EVENT_BUFFER_SIZE,
    AUTH_MODE,
    ALB_ARN,
    ALB_PUBLIC_KEY_URL,
    AUTH_LOGOUT_URL,
    AUTH_SESSION_COOKIE,
    SERVER_API_KEYS,
    API_RATE_LIMIT,
    API_RATE_BURST,
    ROOM_TOKEN_SECRET,
    ATTACHMENT_MAX_BYTES,
    ATTACHMENT_TYPES,
    ATTACHMENT_UPLOADS_PER_MINUTE,
    ATTACHMENT_LINK_SECONDS,
    ATTACHMENT_DIR,
    ATTACHMENT_BUCKET,
    ATTACHMENT_SCAN_QUEUE_URL,
)
# Every setting by its environment variable name.
BY_NAME: Final[Mapping[str, Setting]] = MappingProxyType({s.name: s for s in ALL})
