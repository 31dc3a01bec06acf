"""The web client in real Chromium (Debian's /usr/bin/chromium driven by Playwright)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect
from websockets.sync.client import connect

from harness.relay import RelayProcess
from tests.support.browser import ARTIFACTS, open_chat

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=\"document.title='pwned'\"> & <b>bold</b>"


def test_two_people_chat_and_a_reload_keeps_name_and_history(
    relay: RelayProcess, browser: Browser
) -> None:
    url = f"{relay.http}/?room=e2e"
    alice = open_chat(browser, url).page
    bob = open_chat(browser, url).page
    alice_name = alice.locator("#me-name").inner_text()
    bob_name = bob.locator("#me-name").inner_text()
    assert alice_name and bob_name

    for page in (alice, bob):
        expect(page.locator("#members li")).to_have_count(2)
        expect(page.locator("#members")).to_contain_text(alice_name)
        expect(page.locator("#members")).to_contain_text(bob_name)
        avatar = page.locator("#members li img").first.get_attribute("src") or ""
        assert avatar.startswith("/avatars/") and avatar.endswith(".svg")

    alice.fill("#text", "hello from alice")
    alice.click("#send")
    bob.fill("#text", XSS)
    bob.press("#text", "Enter")
    for page in (alice, bob):
        texts = page.locator("#messages li.message .text")
        expect(texts).to_have_text(["hello from alice", XSS])
        expect(page.locator("#messages li.message .meta b")).to_have_text([alice_name, bob_name])
        # Shown as text: no element was created from the message, no script ran.
        assert page.locator("#messages .text img, #messages .text b").count() == 0
        assert page.title() != "pwned"

    ARTIFACTS.mkdir(exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "browser-chat.png"), full_page=True)

    bob.reload()
    expect(bob.locator("#status")).to_have_text("online")
    expect(bob.locator("#me-name")).to_have_text(bob_name)
    expect(bob.locator("#messages li.message .text")).to_have_text(["hello from alice", XSS])
    # A reload is the same member: alice still sees two members, not three.
    expect(alice.locator("#members li")).to_have_count(2)


def test_network_blip_resumes_without_loss(redis_url: str, browser: Browser) -> None:
    """The page's relay restarts; messages sent meanwhile through another relay arrive."""

    env = {"REDIS_URL": redis_url}
    with RelayProcess(env=env) as other:
        first = RelayProcess(env=env).start()
        port = first.port
        try:
            page = open_chat(browser, f"{first.http}/?room=blip").page
            name = page.locator("#me-name").inner_text()
            first.kill()
            expect(page.locator("#status")).to_have_attribute("data-state", "offline")
            # Typed while offline: kept as pending, sent after the resume.
            page.fill("#text", "typed while offline")
            page.press("#text", "Enter")
            expect(page.locator("#messages li.pending .state")).to_have_text(
                " · waiting for the connection"
            )

            # Playwright's sync API owns this thread's event loop: use the sync client.
            with connect(other.ws) as client:
                client.send(json.dumps({"type": "join", "room": "blip"}))
                for i in range(3):
                    client.send(json.dumps({"type": "send", "text": f"while you were away {i}"}))
                acks = 0
                while acks < 3:
                    acks += json.loads(client.recv(timeout=10))["type"] == "ack"
            first = RelayProcess(env=env, port=port).start()
            expect(page.locator("#status")).to_have_text("online", timeout=30_000)
            expect(page.locator("#me-name")).to_have_text(name)
            expect(page.locator("#messages li.message .text")).to_have_text(
                [f"while you were away {i}" for i in range(3)] + ["typed while offline"]
            )
            expect(page.locator("#messages li.pending")).to_have_count(0)
        finally:
            first.stop()
