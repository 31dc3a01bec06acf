"""What one client address may create per minute: new identities, new rooms.

Behind the load balancer every connection comes from the ALB; the client's address is the
one the ALB appends to ``X-Forwarded-For``. With ``TRUSTED_PROXY_HOPS=n`` the relay takes
the n-th address from the right of that header (0: the socket's peer, for a relay with no
proxy in front, where the header is whatever the client wrote). Counts are per process and
per minute window, over a bounded number of addresses.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping

MAX_TRACKED_ADDRESSES = 10_000
WINDOW_SECONDS = 60.0


def client_address(headers: Mapping[str, str], peer: str | None, trusted_hops: int) -> str:
    if trusted_hops > 0:
        forwarded = [a.strip() for a in headers.get("x-forwarded-for", "").split(",") if a.strip()]
        if len(forwarded) >= trusted_hops:
            return forwarded[-trusted_hops]
    return peer or "unknown"


class AddressQuota:
    """At most ``limit`` of one kind of thing per address per minute (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def allow(self, address: str) -> bool:
        if self.limit <= 0:
            return True
        now = time.monotonic()
        started, count = self._windows.get(address, (now, 0))
        if now - started >= WINDOW_SECONDS:
            started, count = now, 0
        if count >= self.limit:
            return False
        self._windows[address] = (started, count + 1)
        self._windows.move_to_end(address)
        while len(self._windows) > MAX_TRACKED_ADDRESSES:
            self._windows.popitem(last=False)
        return True
