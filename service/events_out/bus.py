"""PutEvents to one EventBridge bus with botocore, the blocking call in a thread of its own.

Its own pool, not the loop's default executor: calls hanging on a failing bus (up to the
timeouts below, twice) must not hold the threads DNS lookups and other work wait for.

Credentials come from botocore's usual chain (on ECS, the task role through the container
credentials endpoint); the region from the bus ARN, else AWS_REGION / AWS_DEFAULT_REGION
(ECS sets them); the endpoint from AWS_ENDPOINT_URL(_EVENTBRIDGE) when a test points it
at a stand-in. botocore retries a call once more itself; the outbox retries the rest.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..config_formats import ConfigError

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
_ARN_REGION = re.compile(r"arn:aws[a-z-]*:events:([a-z0-9-]+):")


class EventBridgeBus:
    def __init__(self, bus: str, *, threads: int) -> None:
        # Imported here: a relay without EVENT_BUS_NAME never loads the events client.
        import botocore.session
        from botocore.config import Config
        from botocore.exceptions import NoRegionError

        self.bus = bus
        match = _ARN_REGION.match(bus)
        try:
            self._client = botocore.session.get_session().create_client(
                "events",
                region_name=match.group(1) if match else None,
                config=Config(
                    connect_timeout=CONNECT_TIMEOUT,
                    read_timeout=READ_TIMEOUT,
                    retries={"mode": "standard", "total_max_attempts": 2},
                    max_pool_connections=threads,
                ),
            )
        except NoRegionError:
            raise ConfigError(
                f"EVENT_BUS_NAME={bus!r} needs an AWS region: set AWS_REGION (ECS sets it) or "
                "give the bus's ARN, e.g. arn:aws:events:eu-west-1:123456789012:event-bus/chat"
            ) from None
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="events-out")

    def put_blocking(self, entries: Sequence[dict[str, Any]]) -> list[str | None]:
        response = self._client.put_events(Entries=list(entries))
        results = response.get("Entries") or []
        if len(results) != len(entries):
            raise RuntimeError(f"PutEvents answered {len(results)} results for {len(entries)}")
        return [result.get("ErrorCode") for result in results]

    async def put(self, entries: Sequence[dict[str, Any]]) -> list[str | None]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self.put_blocking, entries)

    def close(self) -> None:
        """Stop taking calls; one still hanging ends at its timeout, in its thread."""
        self._threads.shutdown(wait=False, cancel_futures=True)
