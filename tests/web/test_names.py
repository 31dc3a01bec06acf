"""Names that try to impersonate (issue 27, item 3): every name is shown isolated, so it
cannot reorder what follows it, and a name another member present also goes by gets a
short id suffix. Each person is a browser profile of its own (real Chromium)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from harness.relay import RelayProcess
from tests.support.browser import ChatPage, open_chat

pytestmark = pytest.mark.browser

RTL_NAME = "שלום 2"  # Hebrew letters then a digit: digits after it would join its RTL run


def person(browser: Browser, url: str, name: str) -> ChatPage:
    chat = open_chat(browser, url)
    chat.page.click("#rename")
    chat.page.fill("#name-input", name)
    chat.page.press("#name-input", "Enter")
    expect(chat.page.locator("#me-name")).to_have_text(name)
    expect(chat.page.locator("#status")).to_have_text("online")
    return chat


def member_id(chat: ChatPage) -> str:
    return str(chat.page.locator("#members li.self").get_attribute("data-member-id"))


def test_two_members_named_alice_are_told_apart(relay: RelayProcess, browser: Browser) -> None:
    url = f"{relay.http}/?room=two-alices"
    viewer = open_chat(browser, url)
    alices = [person(browser, url, "Alice"), person(browser, url, "alice")]
    ids = [member_id(alice) for alice in alices]
    for number, alice in enumerate(alices):
        alice.say(f"hi {number}")
    expect(viewer.page.locator("#members li")).to_have_count(3)
    names = viewer.page.locator("#members li", has_text="Alice")
    expect(names.locator(".id-suffix")).to_have_count(2)
    assert sorted(names.locator(".id-suffix").all_inner_texts()) == sorted(f"#{i[:4]}" for i in ids)
    authors = viewer.page.locator("#messages li.message .meta b")
    expect(authors).to_have_count(2)
    assert sorted(authors.all_inner_texts()) == sorted(
        f"{name}#{i[:4]}" for name, i in zip(("Alice", "alice"), ids, strict=True)
    )
    # One Alice leaves: the other is the only one present by that name and loses the
    # suffix; the one who left keeps it on her message (someone present looks like her).
    alices[0].page.context.close()
    expect(viewer.page.locator("#members li")).to_have_count(2)
    expect(viewer.page.locator("#members .id-suffix")).to_have_count(0)
    expect(authors).to_have_text([f"Alice#{ids[0][:4]}", "alice"])
    for chat in (viewer, alices[1]):
        assert chat.problems() == []


def test_a_right_to_left_name_does_not_reorder_what_follows(
    relay: RelayProcess, browser: Browser
) -> None:
    url = f"{relay.http}/?room=rtl-names"
    viewer = open_chat(browser, url)
    speaker = person(browser, url, RTL_NAME)
    speaker.say("shalom")
    meta = viewer.page.locator("#messages li.message .meta").first
    expect(meta.locator("b")).to_have_text(RTL_NAME)
    name = meta.locator("b").bounding_box()
    when = meta.locator("time").bounding_box()
    assert name is not None and when is not None
    # A left-to-right page: the time is shown after (right of) the whole name.
    assert when["x"] >= name["x"] + name["width"] - 1, (name, when)
    isolation = viewer.page.eval_on_selector_all(
        "#members li .name, #messages .meta .name, #me-name .name",
        "els => els.map(e => [e.tagName, getComputedStyle(e).unicodeBidi])",
    )
    assert len(isolation) >= 4
    assert all(item == ["BDI", "isolate"] for item in isolation), isolation
    for chat in (viewer, speaker):
        assert chat.problems() == []
