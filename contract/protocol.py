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

DEFAULT_ROOM: Final = "lobby"
ROOM_MAX_CHARS: Final = 64
# Room names; use with ``fullmatch`` (``$`` would also accept a trailing newline).
ROOM_PATTERN: Final = r"[a-z0-9][a-z0-9_-]{0,63}"
ROOM_NAME: Final = re.compile(ROOM_PATTERN)

MAX_TEXT_CHARS: Final = 2000  # a `send`'s text after trimming
MAX_REF_CHARS: Final = 64  # a `send`'s ref, echoed in the `ack`
MAX_NAME_CHARS: Final = 40  # a `join`'s chosen display name
TOKEN_PATTERN: Final = r"[A-Za-z0-9_-]{16,128}"  # resume tokens, as the relay issues them
TOKEN: Final = re.compile(TOKEN_PATTERN)  # use with ``fullmatch``

# Close codes (RFC 6455 plus the relay's documented uses).
CLOSE_NORMAL: Final = 1000
CLOSE_ABNORMAL: Final = 1006  # never sent: the socket ended without a close frame
CLOSE_POLICY: Final = 1008  # bad origin, join timeout, repeated abuse
CLOSE_TOO_BIG: Final = 1009  # a frame over MAX_FRAME_BYTES
CLOSE_PING_TIMEOUT: Final = 1011  # no pong within PING_TIMEOUT
CLOSE_RESTARTING: Final = 1012  # draining: reconnect with jittered backoff and resume
CLOSE_TRY_AGAIN: Final = 1013  # slow consumer, connection cap, storage down at join

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
    "bad_attachment",
    "file_too_large",
    "file_type_not_allowed",
]
ERROR_CODES: Final[tuple[ErrorCode, ...]] = get_args(ErrorCode)
# Errors after which the same `send` (same ref) is retried: nothing was stored.
RETRYABLE_ERRORS: Final[tuple[ErrorCode, ...]] = ("unavailable", "rate_limited")

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
