"""Who is who in the page: a chosen name (anonymous mode), Sign out (ALB sign-in)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from harness.alb_identity import AlbSigningKey
from harness.relay import RelayProcess
from service.identity_alb import HEADER
from tests.support.browser import ChatPage, open_chat

pytestmark = pytest.mark.browser


def rename(chat: ChatPage, name: str) -> None:
    chat.page.click("#rename")
    chat.page.fill("#name-input", name)
    chat.page.press("#name-input", "Enter")


def second_tab(chat: ChatPage, url: str) -> ChatPage:
    """Another tab of the same browser profile: same localStorage, same person."""
    tab = ChatPage(chat.page.context.new_page())
    tab.page.set_default_timeout(15_000)
    tab.page.goto(url)
    expect(tab.page.locator("#status")).to_have_text("online")
    return tab


def test_a_name_chosen_in_one_tab_is_seen_by_others(relay: RelayProcess, browser: Browser) -> None:
    url = f"{relay.http}/?room=names"
    ada = open_chat(browser, url)
    bob = open_chat(browser, url)
    ada_elsewhere = second_tab(ada, f"{relay.http}/?room=elsewhere")
    expect(ada.page.locator("#sign-out")).to_be_hidden()

    rename(ada, "  Ada L.  ")
    expect(ada.page.locator("#me-name")).to_have_text("Ada L.")
    expect(ada.page.locator("#status")).to_have_text("online")
    expect(bob.page.locator("#members li", has_text="Ada L.")).to_have_count(1)
    expect(bob.page.locator("#members li")).to_have_count(2)  # renamed, not a new member
    # The other tab (another room) follows, and so does a tab opened later.
    expect(ada_elsewhere.page.locator("#me-name")).to_have_text("Ada L.")
    later = second_tab(ada, f"{relay.http}/?room=third")
    expect(later.page.locator("#me-name")).to_have_text("Ada L.")

    ada.say("hello from Ada")
    expect(bob.page.locator("#messages li.message .meta b")).to_have_text(["Ada L."])
    for chat in (ada, bob, ada_elsewhere, later):
        assert chat.problems() == []


def test_names_are_checked_before_they_are_sent(relay: RelayProcess, browser: Browser) -> None:
    chat = open_chat(browser, f"{relay.http}/?room=bad-names")
    before = chat.page.locator("#me-name").inner_text()
    rename(chat, "\u200b \u200b")  # only invisible characters: the relay would refuse it
    expect(chat.page.locator("#notice")).to_contain_text("something visible")
    expect(chat.page.locator("#rename-form")).to_be_visible()
    expect(chat.page.locator("#me-name")).to_have_text(before)
    chat.page.fill("#name-input", "x" * 45)  # the input stops at the relay's 40
    chat.page.press("#name-input", "Enter")
    expect(chat.page.locator("#me-name")).to_have_text("x" * 40)
    expect(chat.page.locator("#notice")).to_be_hidden()
    assert chat.problems() == []


def test_signed_in_page_shows_the_identity_and_sign_out(
    alb_relay: RelayProcess, signing_key: AlbSigningKey, browser: Browser
) -> None:
    # What the ALB adds to each request it forwards, page and WebSocket upgrade alike.
    token = signing_key.token({"sub": "user-7", "name": "Grace Hopper"}, expires_in=600)
    context = browser.new_context(extra_http_headers={HEADER: token})
    chat = ChatPage(context.new_page())
    chat.page.set_default_timeout(15_000)
    chat.page.goto(f"{alb_relay.http}/?room=signed")
    expect(chat.page.locator("#status")).to_have_text("online")
    expect(chat.page.locator("#me-name")).to_have_text("Grace Hopper")
    expect(chat.page.locator("#rename")).to_be_hidden()
    expect(chat.page.locator("#sign-out")).to_be_visible()
    # Sign out is a POST from the page (a link elsewhere cannot sign anyone out): the relay
    # expires the ALB's session cookie and the page goes where the relay says.
    # A new document at "/" (the relay's `next`), which then names its room in the address
    # itself (?room=...): so the navigation is awaited, not the final address.
    with chat.page.expect_navigation(), chat.page.expect_response("**/auth/logout") as answer:
        chat.page.click("#sign-out")
    assert answer.value.request.method == "POST" and answer.value.status == 200
    assert "AWSELBAuthSessionCookie-0=" in (answer.value.header_value("set-cookie") or "")
    assert urlsplit(chat.page.url)[:3] == urlsplit(f"{alb_relay.http}/")[:3]
    assert chat.problems() == []
    context.close()


def test_a_socket_is_closed_when_its_sign_in_expires(
    alb_relay: RelayProcess, signing_key: AlbSigningKey, browser: Browser
) -> None:
    """The relay closes the socket at the token's exp (4001); the page reconnects, and with
    no fresh token (the session ended: here the header stays the expired one) says so."""
    short = signing_key.token({"sub": "user-9", "name": "Brief"}, expires_in=3)
    context = browser.new_context(extra_http_headers={HEADER: short})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{alb_relay.http}/?room=signed")
    expect(page.locator("#status")).to_have_text("online")
    expect(page.locator("#notice")).to_have_text(
        "Your sign-in has ended. Reload the page to sign in again.", timeout=30_000
    )
    expect(page.locator("#status")).not_to_have_text("online")
    context.close()


def test_an_ended_sign_in_says_to_sign_in_again(
    alb_relay: RelayProcess, signing_key: AlbSigningKey, browser: Browser
) -> None:
    expired = signing_key.token({"sub": "user-8", "name": "Late"}, expires_in=-60)
    context = browser.new_context(extra_http_headers={HEADER: expired})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{alb_relay.http}/?room=signed")
    expect(page.locator("#notice")).to_have_text(
        "Your sign-in has ended. Reload the page to sign in again."
    )
    expect(page.locator("#status")).not_to_have_text("online")
    context.close()
