"""Many rooms in one page over one WebSocket: the room list (join by name, leave), unread
counts and the last read position, "load older" without a jump, "Ann is typing…", the
phone layout, and "(you)" beside a long name."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from websockets.sync.client import connect

from harness.relay import QUICK_STOP, RelayProcess
from tests.support.browser import DESKTOP, PHONE, ChatPage, open_chat
from tests.web.test_accessibility import axe_violations, describe

pytestmark = pytest.mark.browser

HISTORY_SIZE = 5


@pytest.fixture(scope="module")
def relay() -> Iterator[RelayProcess]:
    env = {"HISTORY_SIZE": str(HISTORY_SIZE), "RATE_LIMIT": "1000", "RATE_BURST": "1000"}
    env.update(QUICK_STOP)
    with RelayProcess(env=env) as process:
        yield process


def post(relay: RelayProcess, room: str, texts: list[str]) -> None:
    """Someone else posts ``texts`` to ``room`` (a plain protocol client)."""
    with connect(relay.ws, origin=relay.http) as ws:
        ws.send(json.dumps({"type": "join", "room": room, "name": "Poster"}))
        acks = 0
        for text in texts:
            ws.send(json.dumps({"type": "send", "text": text, "ref": text}))
        while acks < len(texts):
            if json.loads(ws.recv(timeout=10))["type"] == "ack":
                acks += 1


def open_room(chat: ChatPage, name: str) -> None:
    page = chat.page
    if page.locator("#rooms-toggle").is_visible():
        page.click("#rooms-toggle")
    page.fill("#room-input", name)
    page.press("#room-input", "Enter")
    expect(page.locator("#room-name")).to_have_text(f"#{name}")


def room_entry(page: Page, name: str) -> Locator:
    return page.locator(f'#rooms li[data-room="{name}"]')


def test_rooms_share_one_socket_and_count_unread(relay: RelayProcess, browser: Browser) -> None:
    sockets: list[str] = []
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.on("websocket", lambda ws: sockets.append(ws.url))
    chat = ChatPage(page)
    page.goto(f"{relay.http}/?room=ru-one")
    expect(page.locator("#status")).to_have_text("online")
    open_room(chat, "ru-two")
    chat.say("hello two")
    expect(page.locator("#messages li.message .text")).to_have_text(["hello two"])
    expect(page.locator("#rooms li")).to_have_count(2)
    room_entry(page, "ru-one").locator(".room-button").click()
    expect(page.locator("#room-name")).to_have_text("#ru-one")
    expect(page.locator("#empty")).to_be_visible()

    post(relay, "ru-two", ["one for two", "another for two"])
    expect(room_entry(page, "ru-two").locator(".unread")).to_have_text("2 unread")
    post(relay, "ru-one", ["shown at once"])
    expect(page.locator("#messages li.message .text")).to_have_text(["shown at once"])
    expect(room_entry(page, "ru-one").locator(".unread")).to_have_count(0)

    room_entry(page, "ru-two").locator(".room-button").click()
    expect(page.locator("#messages li.message .text")).to_have_text(
        ["hello two", "one for two", "another for two"]
    )
    expect(room_entry(page, "ru-two").locator(".unread")).to_have_count(0)
    assert len(sockets) == 1, sockets

    # The read position survives a reload: only what came after it is unread.
    room_entry(page, "ru-one").locator(".room-button").click()
    post(relay, "ru-two", ["while away"])
    expect(room_entry(page, "ru-two").locator(".unread")).to_have_text("1 unread")
    page.goto(f"{relay.http}/?room=ru-one")
    expect(page.locator("#status")).to_have_text("online")
    expect(page.locator("#rooms li")).to_have_count(2)
    expect(room_entry(page, "ru-two").locator(".unread")).to_have_text("1 unread")

    # Leaving: gone from the list, and its messages count nowhere.
    room_entry(page, "ru-two").locator(".leave").click()
    expect(page.locator("#rooms li")).to_have_count(1)
    expect(page.locator("#rooms .leave")).to_have_count(0)  # the last room stays
    post(relay, "ru-two", ["after leaving"])
    post(relay, "ru-one", ["still here"])
    expect(page.locator("#messages li.message .text")).to_have_text(["shown at once", "still here"])
    expect(page.locator("#rooms .unread")).to_have_count(0)
    assert chat.problems() == []
    context.close()


def test_load_older_keeps_the_visible_messages_in_place(
    relay: RelayProcess, browser: Browser
) -> None:
    texts = [f"message {i:02d}" for i in range(30)]
    post(relay, "older", texts)
    chat = open_chat(browser, f"{relay.http}/?room=older", viewport={"width": 900, "height": 400})
    page = chat.page
    rows = page.locator("#messages li.message .text")
    expect(rows).to_have_count(HISTORY_SIZE)
    # The second message shown (the first may fold into the older page's last group).
    anchor = page.locator("#messages li.message .text", has_text=texts[-HISTORY_SIZE + 1])
    before = anchor.bounding_box()
    assert before is not None
    page.click("#load-older")
    expect(page.locator(f"#messages li.message >> nth={2 * HISTORY_SIZE - 1}")).to_be_attached()
    expect(page.locator("#load-older")).to_be_enabled()  # no page in flight
    after = anchor.bounding_box()
    assert after is not None and abs(after["y"] - before["y"]) < 2, (before, after)
    # Scrolling to the top asks for the rest; then there is nothing older.
    for _ in range(10):
        if rows.count() == len(texts):
            break
        page.locator("#messages").evaluate("list => { list.scrollTop = 0; }")
        page.wait_for_timeout(300)
    expect(rows).to_have_count(len(texts))
    expect(rows).to_have_text(texts)
    expect(page.locator("#load-older")).to_be_hidden()
    assert chat.problems() == []


def test_someone_typing_is_shown_until_their_message(relay: RelayProcess, browser: Browser) -> None:
    url = f"{relay.http}/?room=typing"
    ann = open_chat(browser, url)
    bob = open_chat(browser, url)
    bob_name = bob.page.locator("#me-name").inner_text()
    bob.page.locator("#text").press_sequentially("hel")
    expect(ann.page.locator("#typing")).to_have_text(f"{bob_name} is typing…")
    expect(bob.page.locator("#typing")).to_have_text("")  # not to oneself
    bob.page.locator("#text").press_sequentially("lo")
    bob.page.press("#text", "Enter")
    expect(ann.page.locator("#messages li.message .text")).to_have_text(["hello"])
    expect(ann.page.locator("#typing")).to_have_text("")
    assert ann.problems() == [] and bob.problems() == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_room_list_on_each_layout_scans_clean(
    relay: RelayProcess, browser: Browser, viewport: dict
) -> None:
    chat = open_chat(browser, f"{relay.http}/?room=layout-a", viewport=viewport)
    page = chat.page
    open_room(chat, "layout-b")
    post(relay, "layout-a", ["unread over there"])
    toggle = page.locator("#rooms-toggle")
    if viewport is PHONE:
        expect(page.locator("#rooms-panel")).to_be_hidden()
        expect(toggle).to_have_text("Rooms 1")
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#rooms-panel")).to_be_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    else:
        expect(toggle).to_be_hidden()
        expect(page.locator("#rooms-panel")).to_be_visible()
        expect(page.locator("#members-panel")).to_be_visible()
    expect(room_entry(page, "layout-a").locator(".unread")).to_have_text("1 unread")
    violations = axe_violations(page)
    assert violations == [], describe(violations)
    room_entry(page, "layout-a").locator(".room-button").click()
    expect(page.locator("#room-name")).to_have_text("#layout-a")
    if viewport is PHONE:
        expect(page.locator("#rooms-panel")).to_be_hidden()
    assert chat.problems() == []


def test_you_never_wraps_inside_itself_beside_a_long_name(
    relay: RelayProcess, browser: Browser
) -> None:
    chat = open_chat(browser, f"{relay.http}/?room=long-name", viewport=DESKTOP)
    page = chat.page
    page.click("#rename")
    page.fill("#name-input", "Maximiliana Wolfeschlegelsteinhausenberg")
    page.press("#name-input", "Enter")
    expect(page.locator("#me-name")).to_have_text("Maximiliana Wolfeschlegelsteinhausenberg")
    you = page.locator("#members li.self .you")
    expect(you).to_have_text("(you)")
    lines = you.evaluate("e => e.getClientRects().length")
    height = you.evaluate("e => e.getBoundingClientRect().height")
    line = you.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert lines == 1 and height <= line + 1, (lines, height, line)
