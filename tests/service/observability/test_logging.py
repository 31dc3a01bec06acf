"""Structured logs: JSON lines with connection ids, never message text, rate-limited."""

from __future__ import annotations

import io
import logging
import secrets

import orjson
import pytest

from harness.client import ChatClient
from harness.polling import wait_until
from harness.relay import RelayProcess
from service.observability.logs import (
    JsonFormatter,
    LogRateLimit,
    configure_logging,
    suppressed_total,
)

pytestmark = pytest.mark.anyio


def json_lines(output: str) -> list[dict]:
    lines = [line for line in output.splitlines() if line.strip()]
    parsed = [orjson.loads(line) for line in lines]  # every line is JSON, or this raises
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


async def test_logs_are_json_lines_with_connection_ids_and_no_message_text() -> None:
    secret = f"do-not-log-{secrets.token_hex(8)}"
    with RelayProcess(env={"LOG_LEVEL": "debug", "METRICS_EMF_INTERVAL": "1"}) as relay:
        async with (
            await ChatClient.connect(relay.ws) as alice,
            await ChatClient.connect(relay.ws) as bob,
        ):
            joined = await alice.join("logged")
            await bob.join("logged")
            await alice.say(secret, ref=f"ref-{secret}")
            await bob.recv_type("messages")
            await bob.send({"type": "send", "text": secret * 200})  # too_long: an error frame
            await bob.recv_type("error")
        wait_until(lambda: relay.output().count('"connection closed"') == 2, 10, what="closes")
        output = relay.output()
    assert secret not in output
    records = [r for r in json_lines(output) if "_aws" not in r]
    for record in records:
        assert {"time", "level", "logger", "event"} <= set(record)
        assert record["level"] in {"debug", "info", "warning", "error", "critical"}
    joins = [r for r in records if r["event"] == "joined"]
    assert len(joins) == 2
    assert {r["room"] for r in joins} == {"logged"}
    assert joined.member["id"] in {r["member"] for r in joins}
    closes = [r for r in records if r["event"] == "connection closed"]
    assert {r["conn"] for r in closes} == {r["conn"] for r in joins}
    assert all(r["code"] == 1000 and r["by"] == "client" for r in closes)
    opened = [r for r in records if r["event"] == "connection opened"]
    assert len(opened) == 2  # debug level


async def test_log_level_comes_from_the_setting() -> None:
    with RelayProcess(env={"LOG_LEVEL": "warning"}) as relay:
        async with await ChatClient.connect(relay.ws) as client:
            await client.join()
        output = relay.output()
    assert all(r["level"] in {"warning", "error", "critical"} for r in json_lines(output))


def _record(msg: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("service.test", level, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_flood_is_rate_limited_per_kind_of_event() -> None:
    limiter = LogRateLimit(rate=2)  # burst: 10 s worth = 20 lines
    passed = [limiter.filter(_record("client closed")) for _ in range(1000)]
    assert sum(passed) == 20
    assert limiter.suppressed == 980
    assert limiter.filter(_record("another kind of event"))  # its own bucket
    assert limiter.filter(_record("boom", logging.ERROR))  # errors always pass
    limiter._buckets[("service.test", "client closed")][0] = 1.0  # a token came back
    record = _record("client closed")
    assert limiter.filter(record)
    assert record.suppressed == 980  # the next line says how many of its kind were dropped


def test_formatter_writes_extra_fields_and_exceptions() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("info", rate=100, stream=stream)
    try:
        log = logging.getLogger("service.test")
        log.info("joined", extra={"conn": "abc.1", "room": "lobby"})
        try:
            raise ValueError("bad")
        except ValueError:
            log.warning("it failed", exc_info=True)
        for _ in range(5000):
            log.info("flood")
        first, second, *_ = json_lines(stream.getvalue())
        assert first["conn"] == "abc.1" and first["room"] == "lobby"
        assert first["event"] == "joined" and first["logger"] == "service.test"
        assert "ValueError: bad" in second["exc"]
        assert suppressed_total() >= 3900  # burst 1000, a few tokens refill meanwhile
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_formatter_is_one_line_even_for_multiline_messages() -> None:
    line = JsonFormatter().format(_record("two\nlines"))
    assert "\n" not in line
    assert orjson.loads(line)["event"] == "two\nlines"
