"""Bearer keys (SERVER_API_KEYS), compared in constant time, and a rate limit per key."""

from __future__ import annotations

import hmac
import math

from ..ratelimit import TokenBucket
from .errors import ApiError

SCHEME = "bearer"


class ApiKeys:
    def __init__(self, keys: tuple[str, ...], rate: float, burst: int) -> None:
        self._keys = [key.encode() for key in keys]
        self._buckets = [TokenBucket(rate, burst) for _ in keys]

    def admit(self, authorization: str | None) -> None:
        """Raise 401 unless the header carries a configured key, 429 when that key is over
        its rate."""
        index = self._match(authorization)
        if index is None:
            raise ApiError(
                401,
                "unauthorized",
                "send Authorization: Bearer <key> with a key from SERVER_API_KEYS",
                headers={"WWW-Authenticate": 'Bearer realm="chat-relay"'},
            )
        bucket = self._buckets[index]
        if not bucket.allow():
            retry = max(1, math.ceil(bucket.wait_seconds()))
            raise ApiError(
                429,
                "rate_limited",
                f"this key is over its rate (API_RATE_LIMIT); retry in {retry} s",
                headers={"Retry-After": str(retry)},
            )

    def _match(self, authorization: str | None) -> int | None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != SCHEME:
            return None
        candidate = given.strip().encode()
        found = None
        # Every key is compared, each in constant time: neither the time to answer nor
        # which key matched tells a guesser how close a guess came.
        for index, key in enumerate(self._keys):
            if hmac.compare_digest(key, candidate):
                found = index
        return found
