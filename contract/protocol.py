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
# Bidi embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069): in a name they
# reorder what is shown after it ("Bob\u202egnp.exe" shows as "Bobexe.png"). A chosen name
# holding one is refused (bad_name); a signed-in identity's name has them removed.
BIDI_CONTROLS_PATTERN: Final = "[\u202a-\u202e\u2066-\u2069]"
BIDI_CONTROLS: Final = re.compile(BIDI_CONTROLS_PATTERN)  # use with ``search`` or ``sub``
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
]
ERROR_CODES: Final[tuple[ErrorCode, ...]] = get_args(ErrorCode)
# Errors after which the same `send` (same ref) is retried: nothing was stored.
RETRYABLE_ERRORS: Final[tuple[ErrorCode, ...]] = ("unavailable", "rate_limited")
