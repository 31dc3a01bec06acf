"""The page and the product's backend: a deleted message leaves the page, a removed member's
page says why and stays disconnected, and a private room's token comes in the fragment."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from playwright.sync_api import Browser, expect

from harness.relay import QUICK_STOP, RelayProcess
from tests.service.conftest import API_ENV, API_KEY, ROOM_SECRET
from tests.support.browser import open_chat

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def relay() -> Iterator[RelayProcess]:
    with RelayProcess(env={**API_ENV, **QUICK_STOP}) as process:
        yield process


@pytest.fixture
def api(relay: RelayProcess) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=relay.http, headers=headers, timeout=10) as client:
        yield client


def test_a_deleted_message_disappears_from_the_page(
    relay: RelayProcess, api: httpx.Client, browser: Browser
) -> None:
    chat = open_chat(browser, f"{relay.http}/?room=deletions")
    doomed = api.post("/api/v1/rooms/deletions/messages", json={"text": "a mistake"}).json()["id"]
    api.post("/api/v1/rooms/deletions/messages", json={"text": "this stays"})
    chat.say("mine stays too")
    expect(chat.page.locator("#messages li.message .text")).to_have_count(3)
    assert api.delete(f"/api/v1/rooms/deletions/messages/{doomed}").status_code == 204
    expect(chat.page.locator("#messages li.message .text")).to_have_text(
        ["this stays", "mine stays too"]
    )
    assert chat.problems() == []


def test_a_removed_member_is_told_why_and_does_not_reconnect(
    relay: RelayProcess, api: httpx.Client, browser: Browser
) -> None:
    chat = open_chat(browser, f"{relay.http}/?room=moderated")
    (member_id,) = api.get("/api/v1/rooms/moderated/members").json()["members"]
    closed = api.post(f"/api/v1/members/{member_id}/disconnect", json={"ban_seconds": 600})
    assert closed.json() == {"closed": 1}
    expect(chat.page.locator("#status")).to_have_text("disconnected by the server")
    expect(chat.page.locator("#notice")).to_contain_text(
        "disconnected from this chat by the server"
    )
    expect(chat.page.locator("#notice")).to_contain_text("banned for 600 s")
    time.sleep(3)  # longer than the first reconnect delays: nothing comes back
    assert api.get("/api/v1/rooms/moderated/members").json() == {"members": {}}
    # A reload during the ban joins as the same member (its token): refused, said why.
    chat.page.reload()
    expect(chat.page.locator("#notice")).to_contain_text("You were removed from this chat")
    expect(chat.page.locator("#status")).to_have_text("disconnected by the server")
    time.sleep(2)
    assert api.get("/api/v1/rooms/moderated/members").json() == {"members": {}}


def test_a_private_rooms_token_comes_in_the_fragment_and_leaves_the_address_bar(
    relay: RelayProcess, browser: Browser
) -> None:
    room = "private-team"
    token = jwt.encode({"room": room, "exp": int(time.time()) + 300}, ROOM_SECRET, "HS256")
    chat = open_chat(browser, f"{relay.http}/?room={room}#room_token={token}")
    assert "room_token" not in chat.page.url
    chat.say("inside")
    expect(chat.page.locator("#messages li.message .text")).to_have_text(["inside"])
    chat.page.reload()  # the tab keeps its token
    expect(chat.page.locator("#status")).to_have_text("online")

    outsider = browser.new_context().new_page()
    outsider.goto(f"{relay.http}/?room={room}")
    expect(outsider.locator("#status")).to_have_text("not allowed in this room")
    expect(outsider.locator("#notice")).to_contain_text("is a private room")
    expect(outsider.locator("#messages li.message")).to_have_count(0)
