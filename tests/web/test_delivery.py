"""Nothing a person types is lost: over the rate limit, and through a Redis outage."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from harness.paths import REPO
from harness.redis_server import RedisServer
from harness.relay import QUICK_STOP, RelayProcess
from tests.support.browser import ARTIFACTS, PHONE, open_chat
from tests.support.figures import report

pytestmark = pytest.mark.browser

BURST = 40
BURST_SECONDS = 2.0
OUTAGE_SECONDS = 5.0
# The outbox's own give-up time, read from the client so the two cannot drift apart.
GIVE_UP_SECONDS = (
    int(re.search(r"GIVE_UP_MS = (\d+)", (REPO / "web" / "outbox.js").read_text())[1]) // 1000
)


def counter(relay: RelayProcess, name: str) -> float:
    with urllib.request.urlopen(f"{relay.http}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.fixture
def strict_relay() -> Iterator[RelayProcess]:
    """Half the default rate limit, so the burst exceeds it even on a machine too busy to
    type it in 2 s: typed over 6 s, 41 frames (join + 40) meet 10 + 6 x 5 = 40 tokens."""
    with RelayProcess(env={"RATE_LIMIT": "5", "RATE_BURST": "10", **QUICK_STOP}) as relay:
        yield relay


def test_a_burst_typed_over_the_rate_limit_arrives_complete_in_order(
    strict_relay: RelayProcess, browser: Browser
) -> None:
    """40 messages in 2 s is four times RATE_LIMIT: the relay drops frames and says
    `rate_limited`; the page paces and retries until all are stored, in typed order."""
    url = f"{strict_relay.http}/?room=burst"
    typist = open_chat(browser, url)
    reader = open_chat(browser, url)
    sent = [f"burst message {i:02d}" for i in range(BURST)]

    start = time.monotonic()
    for i, text in enumerate(sent):
        typist.say(text)
        # Typed at a steady pace over BURST_SECONDS, as a fast typist or a paste would.
        pause = start + (i + 1) * BURST_SECONDS / BURST - time.monotonic()
        if pause > 0:
            typist.page.wait_for_timeout(pause * 1000)
    typed = time.monotonic() - start
    # Each message showed as the typist's own, pending, the moment it was sent.
    expect(typist.page.locator("#messages li.own")).to_have_count(BURST)

    expect(reader.page.locator("#messages li.message .text")).to_have_text(sent, timeout=60_000)
    delivered = time.monotonic() - start
    expect(typist.page.locator("#messages li.message .text")).to_have_text(sent, timeout=30_000)
    expect(typist.page.locator("#messages li.pending, #messages li.failed")).to_have_count(0)
    # The relay did refuse part of the burst: the retry path was exercised, not bypassed.
    dropped = counter(strict_relay, "chat_relay_rate_limited_frames_total")
    assert dropped > 0
    assert counter(strict_relay, "chat_relay_messages_received_total") == BURST
    report(
        "web-burst-40",
        typed_s=round(typed, 2),
        all_delivered_s=round(delivered, 2),
        frames_dropped_by_rate_limit=int(dropped),
    )
    assert reader.problems() == [] and typist.problems() == []


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server this test may stop and start again on the same port."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_relay(own_redis: RedisServer) -> Iterator[RelayProcess]:
    with RelayProcess(env={"REDIS_URL": own_redis.url, **QUICK_STOP}) as relay:
        yield relay


def test_a_message_sent_during_a_redis_outage_is_delivered_once_after(
    own_redis: RedisServer, redis_relay: RelayProcess, browser: Browser
) -> None:
    url = f"{redis_relay.http}/?room=outage"
    sender = open_chat(browser, url)
    reader = open_chat(browser, url)
    sender.say("before the outage")
    expect(reader.page.locator("#messages li.message .text")).to_have_text(["before the outage"])

    own_redis.stop()
    outage_started = time.monotonic()
    sender.say("sent while Redis is down")
    status = sender.page.locator("#status")
    expect(status).to_have_attribute("data-state", "degraded")
    pending = sender.page.locator("#messages li.pending")
    expect(pending.locator(".text")).to_have_text(["sent while Redis is down"])
    remaining = OUTAGE_SECONDS - (time.monotonic() - outage_started)
    if remaining > 0:
        sender.page.wait_for_timeout(remaining * 1000)
    # Still pending, still degraded: nothing was given up or lost while Redis was away.
    expect(status).to_have_attribute("data-state", "degraded")
    expect(pending).to_have_count(1)

    own_redis.start()
    back = time.monotonic()
    for chat in (reader, sender):
        expect(chat.page.locator("#messages li.message .text").last).to_have_text(
            "sent while Redis is down", timeout=30_000
        )
    report("web-redis-outage-5s", delivered_after_redis_back_s=round(time.monotonic() - back, 2))
    expect(status).to_have_attribute("data-state", "online", timeout=15_000)
    expect(sender.page.locator("#notice")).to_be_hidden()

    # A message after it is a barrier: once it shows, any duplicate would have too.
    sender.say("after the outage")
    for chat in (reader, sender):
        expect(chat.page.locator("#messages li.message .text").last).to_have_text(
            "after the outage"
        )
        assert chat.texts().count("sent while Redis is down") == 1
    assert counter(redis_relay, "chat_relay_sends_unavailable_total") > 0
    # /readyz answered 503 while degraded (Chromium logs that); nothing else went wrong.
    for chat in (sender, reader):
        assert [p for p in chat.problems() if "/readyz" not in p] == []


def test_an_undeliverable_message_shows_failed_and_retry_sends_it_once(
    own_redis: RedisServer, redis_relay: RelayProcess, browser: Browser
) -> None:
    url = f"{redis_relay.http}/?room=gives-up"
    reader = open_chat(browser, url)
    # The test jumps the page's clock past the outbox's give-up time instead of keeping
    # Redis down for half a minute.
    sender = open_chat(browser, url, viewport=PHONE, controlled_clock=True)
    page = sender.page

    own_redis.stop()
    sender.say("sent into a long outage")
    expect(page.locator("#status")).to_have_attribute("data-state", "degraded")
    page.clock.fast_forward(f"00:{GIVE_UP_SECONDS + 1}")
    failed = page.locator("#messages li.failed")
    expect(failed.locator(".text")).to_have_text(["sent into a long outage"], timeout=20_000)
    expect(failed.locator(".failure")).to_contain_text("Not sent")
    retry = failed.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "failed-message.png"))

    own_redis.start()
    # Storage is back: the state indicator says so before anything is sent again.
    expect(page.locator("#status")).to_have_attribute("data-state", "online", timeout=30_000)
    retry.click()
    expect(page.locator("#messages li.failed, #messages li.pending")).to_have_count(0)
    for texts in (
        page.locator("#messages li.message .text"),
        reader.page.locator("#messages li.message .text"),
    ):
        expect(texts).to_have_text(["sent into a long outage"])
    assert page.evaluate("() => document.activeElement.id") == "text"
