"""Wire protocol v1 facts that clients copy (docs/protocol.md is the full text).

The relay validates frames against these; the load-test tool and the web client must stay
inside them. ``web/*.js`` has no build step, so it keeps its own copies and a test compares
them with these values.
"""

from __future__ import annotations

import re
from typing import Final, Literal, get_args

WEBSOCKET_PATH: Final = "/ws"
HEALTH_PATH: Final = "/healthz"  # liveness
READY_PATH: Final = "/readyz"  # 503 while the broker is unreachable or the task drains
METRICS_PATH: Final = "/metrics"  # Prometheus text (METRICS_ENDPOINT)

# The server HTTP API (docs/protocol.md, Server HTTP API; contract/openapi.json describes it).
# Every path under API_PREFIX answers 404 while SERVER_API_KEYS is unset.
API_PREFIX: Final = "/api"
API_ROOM_MESSAGES_PATH: Final = "/api/v1/rooms/{room}/messages"
API_ROOM_MESSAGE_PATH: Final = "/api/v1/rooms/{room}/messages/{message_id}"
API_ROOM_MEMBERS_PATH: Final = "/api/v1/rooms/{room}/members"
API_MEMBER_DISCONNECT_PATH: Final = "/api/v1/members/{member_id}/disconnect"
API_OPENAPI_PATH: Final = "/api/v1/openapi.json"
API_MAX_BODY_BYTES: Final = 64 * 1024  # larger request bodies: 413
API_PAGE_DEFAULT: Final = 50  # GET messages: `limit` when not given
API_PAGE_MAX: Final = 100  # GET messages: `limit` is 1..API_PAGE_MAX
IDEMPOTENCY_KEY_MAX_CHARS: Final = 64
IDEMPOTENCY_WINDOW: Final = (
    600  # seconds: the same idempotency_key within them returns the first id
)
BAN_MAX_SECONDS: Final = 86_400  # POST .../disconnect: ban_seconds is 0..BAN_MAX_SECONDS

DEFAULT_ROOM: Final = "lobby"
ROOM_MAX_CHARS: Final = 64
# Room names; use with ``fullmatch`` (``$`` would also accept a trailing newline).
ROOM_PATTERN: Final = r"[a-z0-9][a-z0-9_-]{0,63}"
ROOM_NAME: Final = re.compile(ROOM_PATTERN)

MAX_TEXT_CHARS: Final = 2000  # a `send`'s text after trimming
MAX_REF_CHARS: Final = 64  # a `send`'s ref, echoed in the `ack`
MAX_NAME_CHARS: Final = 40  # a `join`'s chosen display name
MAX_HISTORY_PAGE: Final = 100  # a `history` frame's `limit`: 1..MAX_HISTORY_PAGE messages
DEFAULT_HISTORY_PAGE: Final = 50  # a `history` frame's `limit` when it has none
TYPING_INTERVAL: Final = 2.0  # seconds: one `typing` per member and room; more are dropped
# Bidi embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069): in a name they
# reorder what is shown after it ("Bob\u202egnp.exe" shows as "Bobexe.png"). A chosen name
# holding one is refused (bad_name); a signed-in identity's name has them removed.
BIDI_CONTROLS_PATTERN: Final = "[\u202a-\u202e\u2066-\u2069]"
BIDI_CONTROLS: Final = re.compile(BIDI_CONTROLS_PATTERN)  # use with ``search`` or ``sub``
TOKEN_PATTERN: Final = r"[A-Za-z0-9_-]{16,128}"  # resume tokens, as the relay issues them
TOKEN: Final = re.compile(TOKEN_PATTERN)  # use with ``fullmatch``
# Rooms with this prefix need a `room_token` (a JWT, HS256 with ROOM_TOKEN_SECRET) to join.
PRIVATE_ROOM_PREFIX: Final = "private-"
MAX_ROOM_TOKEN_CHARS: Final = 4096  # a `join`'s room_token

# Server frame types added after the design's first table (docs/protocol.md marks them).
MESSAGE_DELETED_FRAME: Final = "message_deleted"  # {"type":"message_deleted","id":...}

# Frame types, as the `type` field spells them.
CLIENT_FRAME_TYPES: Final = (
    "join",
    "send",
    "ping",
    "subscribe",
    "unsubscribe",
    "history",
    "typing",
    "upload",
    "download",
)
# Frames about one room carry its name in `room` (an extra field: older clients ignore it).
ROOM_FRAME_TYPES: Final = (
    "welcome",
    "member_history",
    "message_history",
    "messages",
    "member_add",
    "member_delete",
    "ack",
    "resync",
    "history_page",
    "typing",
    "message_deleted",
    "attachment_updated",
)

# Close codes (RFC 6455 plus the relay's documented uses).
CLOSE_NORMAL: Final = 1000
CLOSE_ABNORMAL: Final = 1006  # never sent: the socket ended without a close frame
CLOSE_POLICY: Final = 1008  # bad origin, join timeout, repeated abuse
CLOSE_TOO_BIG: Final = 1009  # a frame over MAX_FRAME_BYTES
CLOSE_PING_TIMEOUT: Final = 1011  # no pong within PING_TIMEOUT
CLOSE_RESTARTING: Final = 1012  # draining: reconnect with jittered backoff and resume
CLOSE_TRY_AGAIN: Final = 1013  # slow consumer, connection cap, storage down at join
# The product's backend disconnected the member (POST .../disconnect): do not reconnect
# while banned; the close reason says for how long.
CLOSE_DISCONNECTED: Final = 4003
# A signed-in connection reached its load balancer token's exp: reconnect (the ALB issues a
# fresh token from its session, or asks the person to sign in again).
CLOSE_SIGN_IN_EXPIRED: Final = 4001

# `error` frame codes (docs/protocol.md, Error codes). A type, so that mypy refuses a code
# the relay would send without it being declared here.
ErrorCode = Literal[
    "bad_frame",
    "not_joined",
    "bad_room",
    "bad_name",
    "empty_text",
    "too_long",
    "rate_limited",
    "already_joined",
    "history_full",
    "unavailable",
    "forbidden",  # a private room without a valid room_token
    "banned",  # the member was disconnected with ban_seconds and the ban has not ended
    "too_many_rooms",
    "not_subscribed",
    "bad_attachment",
    "file_too_large",
    "file_type_not_allowed",
]
ERROR_CODES: Final[tuple[ErrorCode, ...]] = get_args(ErrorCode)
# Errors after which the same `send` (same ref) is retried: nothing was stored.
RETRYABLE_ERRORS: Final[tuple[ErrorCode, ...]] = ("unavailable", "rate_limited")

# The server API's `error` codes (400/401/404/405/413/429/503 bodies: {"error", "detail"}).
ApiErrorCode = Literal[
    "bad_room",
    "bad_body",
    "bad_text",
    "bad_name",
    "bad_id",
    "bad_limit",
    "unauthorized",
    "not_found",
    "method_not_allowed",
    "too_large",
    "rate_limited",
    "unavailable",
    "history_full",
]
API_ERROR_CODES: Final[tuple[ApiErrorCode, ...]] = get_args(ApiErrorCode)
# Attachments *(added)*: an `upload` frame gets a slot (a form to POST the bytes to),
# a `send` names up to MAX_ATTACHMENTS uploaded ids, a `download` frame gets a short link.
ATTACHMENT_ID_PATTERN: Final = r"[A-Za-z0-9_-]{22}"  # 16 random bytes, URL-safe base64
ATTACHMENT_ID: Final = re.compile(ATTACHMENT_ID_PATTERN)  # use with ``fullmatch``
MAX_ATTACHMENTS: Final = 4  # ids on one `send`
MAX_FILE_NAME_CHARS: Final = 200
ATTACHMENTS_PATH: Final = "/attachments"  # local store: GET {ATTACHMENTS_PATH}/<id>?e=&s=
UPLOAD_PATH: Final = "/attachments/upload"  # local store: the slot's form is POSTed here
# unscanned: scanning is off (single server), downloadable; scanning: not yet downloadable;
# clean / infected: the scan's verdict (infected is never downloadable).
AttachmentStatus = Literal["unscanned", "scanning", "clean", "infected"]
ATTACHMENT_STATUSES: Final[tuple[AttachmentStatus, ...]] = get_args(AttachmentStatus)
DOWNLOADABLE_STATUSES: Final[tuple[AttachmentStatus, ...]] = ("unscanned", "clean")
