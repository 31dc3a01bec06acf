"""Origin check for WebSocket upgrades: exact matches only.

With no allow-list, a browser may connect only from the relay's own host (the
page it served). A missing Origin is a non-browser client (load tests, CLIs):
allowed only without an allow-list; ``null`` and look-alike hosts never pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit


def origin_allowed(headers: Mapping[str, str], allowed: tuple[str, ...]) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return not allowed
    origin = origin.strip().rstrip("/").lower()
    if allowed:
        return origin in {a.lower() for a in allowed}
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"}:
        return False  # "null", file://, chrome-extension://...
    host = headers.get("host", "").strip().lower()
    return bool(host) and parts.netloc == host
