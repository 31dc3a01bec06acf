"""What the relay connects to: logs and metrics, events out, sign-in at the load
balancer, the server API and private rooms, attachments."""

from __future__ import annotations

from typing import Final

from contract import metrics

from .kinds import BoolSetting, ChoiceSetting, FloatSetting, IntSetting, TextSetting

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
