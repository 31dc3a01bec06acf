"""Security headers on every HTTP response: the page, its static files, avatars, probes.

The web client is one HTML page, one stylesheet and one ES module served by the relay
itself, talking to ``/ws`` on the same host. The Content-Security-Policy allows exactly
that and nothing else: no inline script or style, no third-party origin, no framing.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A Host header is reflected into the policy only when it is a plain host[:port]: anything
# else (spaces, semicolons, quotes) could add directives, so it falls back to 'self'.
_HOST = re.compile(r"^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$")

STATIC_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),  # for browsers older than CSP frame-ancestors
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
)


def websocket_origin(headers: Headers, scheme: str) -> str | None:
    """``ws://host`` or ``wss://host`` of this relay as the browser sees it, or None.

    Behind the load balancer the relay hears plain HTTP; the ALB's X-Forwarded-Proto says
    whether the browser used HTTPS (and so must use wss).
    """
    host = headers.get("host", "").lower()
    if not _HOST.match(host):
        return None
    forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    secure = (forwarded or scheme) == "https"
    return f"{'wss' if secure else 'ws'}://{host}"


def content_security_policy(ws_origin: str | None, storage: tuple[str, ...] = ()) -> str:
    """``storage``: the attachments bucket's origins (uploads are POSTed there and image
    previews load from there); exactly those, nothing wider."""
    stored = "".join(f" {origin}" for origin in storage)
    connect = "'self'" + (f" {ws_origin}" if ws_origin else "") + stored
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self'{stored}",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeaders:
    """ASGI middleware: adds the headers to each HTTP response start (WebSockets pass)."""

    def __init__(self, app: ASGIApp, storage_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.storage_origins = storage_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = content_security_policy(
            websocket_origin(Headers(scope=scope), scope.get("scheme", "http")),
            self.storage_origins,
        )
        extra = [
            (b"content-security-policy", policy.encode("latin-1")),
            *((name.encode(), value.encode()) for name, value in STATIC_HEADERS),
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
