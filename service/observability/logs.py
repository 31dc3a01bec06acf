"""Structured logs: one JSON object per line, rate-limited per kind of event.

Every record becomes ``{"time", "level", "logger", "event", ...fields}`` on stderr,
where ``event`` is the message and the fields come from ``extra=`` (``conn`` for a
connection id, ``room``, ``code``...). Chat message text is never logged: nothing in
the relay passes it to a logger, and tests assert it never reaches the output.

A flood (thousands of clients dropping at once, a client hammering bad frames)
must not flood the logs or the log pipe: each kind of event (logger + message
template) gets a token bucket of ``LOG_RATE_LIMIT`` lines per second with a burst
of ten seconds' worth; the first line after a suppression says how many of its kind
were dropped (``"suppressed": n``), and ``chat_relay_log_lines_suppressed_total``
counts them all.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}
BURST_SECONDS = 10
_limiters: list[LogRateLimit] = []


def suppressed_total() -> int:
    return sum(limiter.suppressed for limiter in _limiters)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return orjson.dumps(entry, default=str).decode()


class LogRateLimit(logging.Filter):
    """Token bucket per (logger, message template); counts what it drops."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate
        self.burst = max(1.0, rate * BURST_SECONDS)
        self.suppressed = 0
        self._buckets: dict[tuple[str, str], list[float]] = {}  # [tokens, stamp, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True  # errors are rare by nature and always worth their line
        key = (record.name, str(record.msg))
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 10_000:  # templates are few; never grow without bound
                self._buckets.clear()
            bucket = self._buckets[key] = [self.burst, now, 0]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            bucket[2] += 1
            self.suppressed += 1
            return False
        bucket[0] = tokens - 1.0
        if bucket[2]:
            record.suppressed = int(bucket[2])
            bucket[2] = 0
        return True


def configure_logging(level: str, rate: float, stream: TextIO | None = None) -> LogRateLimit:
    """JSON lines on ``stream`` (stderr) for the relay and uvicorn, at ``level``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    limiter = LogRateLimit(rate)
    handler.addFilter(limiter)
    _limiters.clear()
    _limiters.append(limiter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return limiter
