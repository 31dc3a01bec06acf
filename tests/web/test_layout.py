"""The page on a phone and on a desktop: nothing scrolls sideways, the chat keeps the width."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from harness.relay import RelayProcess
from tests.support.browser import ARTIFACTS, DESKTOP, PHONE, ChatPage, open_chat

pytestmark = pytest.mark.browser

# Long unbroken words are what push a layout sideways.
LONG_WORD = "supercalifragilistic" * 8
URL_TEXT = "see https://example.com/" + "a/very/long/path/" * 10


def horizontal_overflow(page: Page) -> int:
    """Pixels the page is wider than the viewport (0: nothing scrolls sideways)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"
    )


def width(page: Page, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not rendered"
    return box["width"]


def fill_room(relay: RelayProcess, browser: Browser, room: str, viewport: dict) -> ChatPage:
    other = open_chat(browser, f"{relay.http}/?room={room}")
    other.say(LONG_WORD)
    other.say(URL_TEXT)
    chat = open_chat(browser, f"{relay.http}/?room={room}", viewport=viewport)
    chat.say("a short one from me")
    expect(chat.page.locator("#messages li.message .text")).to_have_text(
        [LONG_WORD, URL_TEXT, "a short one from me"]
    )
    expect(chat.page.locator("#messages li.pending")).to_have_count(0)
    return chat


def test_phone_members_fold_behind_a_toggle(relay: RelayProcess, browser: Browser) -> None:
    chat = fill_room(relay, browser, "phone", PHONE)
    page = chat.page
    assert horizontal_overflow(page) <= 0
    assert width(page, "#messages") >= 300
    expect(page.locator("#members-panel")).to_be_hidden()
    toggle = page.locator("#members-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_text("Members 2")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "phone-390x844.png"))

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#members-panel")).to_be_visible()
    expect(page.locator("#members li")).to_have_count(2)
    assert horizontal_overflow(page) <= 0
    page.screenshot(path=str(ARTIFACTS / "phone-390x844-members.png"))
    page.keyboard.press("Escape")
    expect(page.locator("#members-panel")).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert chat.problems() == []


def test_desktop_shows_members_beside_the_chat(relay: RelayProcess, browser: Browser) -> None:
    chat = fill_room(relay, browser, "desktop", DESKTOP)
    page = chat.page
    assert horizontal_overflow(page) <= 0
    expect(page.locator("#members-panel")).to_be_visible()
    expect(page.locator("#members-toggle")).to_be_hidden()
    assert width(page, "#messages") >= 900
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "desktop-1280x800.png"))
    assert chat.problems() == []
