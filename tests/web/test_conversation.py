"""How the conversation reads: own messages, groups, dates, the empty room, focus, identity."""

from __future__ import annotations

import datetime
import re

import pytest
from playwright.sync_api import Browser, expect

from harness.relay import RelayProcess
from tests.support.browser import open_chat

pytestmark = pytest.mark.browser


def test_own_messages_are_marked_and_runs_are_grouped(
    relay: RelayProcess, browser: Browser
) -> None:
    url = f"{relay.http}/?room=groups"
    alice = open_chat(browser, url)
    expect(alice.page.locator("#empty")).to_be_visible()
    expect(alice.page.locator("#empty")).to_have_text(re.compile("No messages"))
    bob = open_chat(browser, url)

    alice.say("one")
    expect(alice.page.locator("#empty")).to_be_hidden()
    alice.say("two")
    expect(bob.page.locator("#messages li.message")).to_have_count(2)
    bob.say("three")
    alice.say("four")
    for chat in (alice, bob):
        expect(chat.page.locator("#messages li.message .text")).to_have_text(
            ["one", "two", "three", "four"]
        )
        expect(chat.page.locator("#messages li.pending")).to_have_count(0)
        rows = chat.page.locator("#messages li.message")
        # "two" continues "one" (same sender, minutes apart); "three" and "four" start groups.
        assert [
            rows.nth(i).evaluate("e => e.classList.contains('continued')") for i in range(4)
        ] == [
            False,
            True,
            False,
            False,
        ]
        expect(rows.nth(1).locator(".meta b")).to_be_hidden()
        expect(rows.nth(1).locator("time")).to_be_visible()

    own = [True, True, False, True]
    for chat, mine in ((alice, own), (bob, [not o for o in own])):
        rows = chat.page.locator("#messages li.message")
        assert [rows.nth(i).evaluate("e => e.classList.contains('own')") for i in range(4)] == mine
        expect(
            chat.page.locator("#messages li.message:not(.continued) .you:visible")
        ).to_have_count(sum(1 for i, m in enumerate(mine) if m and i != 1))
    assert alice.problems() == [] and bob.problems() == []


def test_older_messages_show_their_date_and_the_full_time_on_hover(
    relay: RelayProcess, browser: Browser
) -> None:
    url = f"{relay.http}/?room=dates"
    writer = open_chat(browser, url)
    writer.say("written today")
    expect(writer.page.locator("#messages li.pending")).to_have_count(0)
    today = writer.page.locator("#messages li.message time").first
    expect(today).to_have_text(re.compile(r"^\d{1,2}:\d{2}( [AP]M)?$"))

    # A reader whose clock says two days later: the same message is now an older one.
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    later = context.new_page()
    later.clock.set_fixed_time(datetime.datetime.now() + datetime.timedelta(days=2))
    later.goto(url)
    expect(later.locator("#status")).to_have_text("online")
    when = later.locator("#messages li.message time").first
    stored = datetime.datetime.fromisoformat(when.get_attribute("datetime") or "")
    hour = stored.hour % 12 or 12
    clock = f"{hour}:{stored:%M} {'AM' if stored.hour < 12 else 'PM'}"
    expect(when).to_have_text(f"{stored:%a}, {stored:%b} {stored.day}, {clock}")
    # The full date and time, to the second, on hover.
    expect(when).to_have_attribute(
        "title",
        f"{stored:%A}, {stored:%B} {stored.day}, {stored.year} at {clock[:-3]}"
        f":{stored:%S} {clock[-2:]} UTC",
    )
    context.close()


def test_focus_stays_in_the_input(relay: RelayProcess, browser: Browser) -> None:
    chat = open_chat(browser, f"{relay.http}/?room=focus")
    page = chat.page
    assert page.evaluate("() => document.activeElement.id") == "text"
    page.locator("#text").press_sequentially("typed, then Send clicked")
    page.click("#send")
    expect(page.locator("#messages li.message .text")).to_have_text(["typed, then Send clicked"])
    assert page.evaluate("() => document.activeElement.id") == "text"
    expect(page.locator("#text")).to_have_value("")


def test_one_identity_across_rooms(relay: RelayProcess, browser: Browser) -> None:
    context = browser.new_context()
    first = context.new_page()
    first.goto(f"{relay.http}/?room=first")
    expect(first.locator("#status")).to_have_text("online")
    name = first.locator("#me-name").inner_text()
    member_id = first.locator("#members li.self").get_attribute("data-member-id")

    second = context.new_page()  # same browser profile, another room
    second.goto(f"{relay.http}/?room=second")
    expect(second.locator("#status")).to_have_text("online")
    expect(second.locator("#me-name")).to_have_text(name)
    assert second.locator("#members li.self").get_attribute("data-member-id") == member_id
    context.close()


def test_a_token_an_older_page_stored_per_room_still_resumes(
    relay: RelayProcess, browser: Browser
) -> None:
    chat = open_chat(browser, f"{relay.http}/?room=legacy")
    page = chat.page
    name = page.locator("#me-name").inner_text()
    # What the page before one-identity-per-browser left behind: a per-room key only.
    page.evaluate(
        """() => {
          localStorage.setItem("chat-relay:token:legacy", localStorage.getItem("chat-relay:token"));
          localStorage.removeItem("chat-relay:token");
        }"""
    )
    page.reload()
    expect(page.locator("#status")).to_have_text("online")
    expect(page.locator("#me-name")).to_have_text(name)
    assert page.evaluate("() => localStorage.getItem('chat-relay:token')")
