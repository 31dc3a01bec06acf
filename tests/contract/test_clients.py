"""The web client cannot import contract/ (plain ES modules, no build step), so it keeps
its own copies of the protocol limits; this checks each copy against the contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

from contract import protocol

WEB = Path(__file__).resolve().parents[2] / "web"
CONSTANT = re.compile(r"^(?:export )?const ([A-Z_]+) = (.+?);", re.MULTILINE)


def constants(name: str) -> dict[str, str]:
    return dict(CONSTANT.findall((WEB / name).read_text()))


def test_the_web_clients_limits_are_the_protocols() -> None:
    app = constants("protocol.js")
    assert json.loads(app["DEFAULT_ROOM"]) == protocol.DEFAULT_ROOM
    assert int(app["TEXT_MAX_CHARS"]) == protocol.MAX_TEXT_CHARS
    assert int(app["NAME_MAX_CHARS"]) == protocol.MAX_NAME_CHARS
    assert int(app["CLOSE_RESTARTING"]) == protocol.CLOSE_RESTARTING
    assert int(app["CLOSE_TRY_AGAIN"]) == protocol.CLOSE_TRY_AGAIN
    assert int(app["CLOSE_DISCONNECTED"]) == protocol.CLOSE_DISCONNECTED
    assert json.loads(app["MESSAGE_DELETED_FRAME"]) == protocol.MESSAGE_DELETED_FRAME
    assert int(app["CLOSE_SIGN_IN_EXPIRED"]) == protocol.CLOSE_SIGN_IN_EXPIRED
    (bidi,) = re.fullmatch(r"/(.+)/u", app["BIDI_CONTROLS"]).groups()  # type: ignore[union-attr]
    assert bidi.encode().decode("unicode_escape") == protocol.BIDI_CONTROLS_PATTERN


def test_the_limits_are_written_once_in_the_scripts() -> None:
    """Every other use goes through web/protocol.js's constant, so the test above covers it."""
    source = "\n".join(path.read_text() for path in sorted(WEB.glob("*.js")))
    # typing.js's TYPING_INTERVAL_MS is 2000 too: another contract fact, compared on its own.
    source = re.sub(r"^export const TYPING_INTERVAL_MS = .*$", "", source, flags=re.MULTILINE)
    numbers = (
        protocol.MAX_TEXT_CHARS,
        protocol.CLOSE_RESTARTING,
        protocol.CLOSE_TRY_AGAIN,
        protocol.CLOSE_DISCONNECTED,
        protocol.CLOSE_SIGN_IN_EXPIRED,
    )
    for value in numbers:
        assert len(re.findall(rf"\b{value}\b", source)) == 1, value
    for text in (protocol.DEFAULT_ROOM, protocol.MESSAGE_DELETED_FRAME):
        assert source.count(f'"{text}"') == 1, text


def test_the_web_client_handles_the_added_error_codes() -> None:
    """``banned`` and ``forbidden`` stop the page from joining again; each is a declared code."""
    source = (WEB / "app.js").read_text()
    for code in ("banned", "forbidden"):
        assert code in protocol.ERROR_CODES
        assert f'frame.code === "{code}"' in source


def test_the_pages_input_limits_are_the_protocols() -> None:
    page = (WEB / "index.html").read_text()
    limits = dict(re.findall(r'<input id="([a-z-]+)"[^>]*\bmaxlength="(\d+)"', page))
    assert int(limits["text"]) == protocol.MAX_TEXT_CHARS
    assert int(limits["name-input"]) == protocol.MAX_NAME_CHARS


def test_the_outbox_retries_what_the_protocol_says_is_retryable() -> None:
    source = (WEB / "outbox.js").read_text()
    (listed,) = re.findall(r"const RETRYABLE = new Set\(\[([^\]]*)\]\)", source)
    assert {json.loads(code) for code in listed.split(",")} == set(protocol.RETRYABLE_ERRORS)
    view = (WEB / "outbox_view.js").read_text()
    reasons = re.search(r"const FAILURE_REASONS = \{(.*?)\};", view, re.S)
    assert reasons is not None
    assert set(re.findall(r"^\s*([a-z_]+):", reasons[1], re.MULTILINE)) <= set(protocol.ERROR_CODES)


def test_the_socketio_peer_enforces_the_protocols_limits() -> None:
    """The benchmark's Socket.IO peer (bench/peers/) must do the relay's checks to be a fair
    comparison; it is plain Node, so it keeps copies of the limits."""
    peer = dict(CONSTANT.findall((WEB.parent / "bench" / "peers" / "socketio-chat.js").read_text()))
    assert int(peer["MAX_TEXT"]) == protocol.MAX_TEXT_CHARS
    assert peer["ROOM"] == f"/^{protocol.ROOM_PATTERN}$/"


def test_the_web_clients_room_limits_are_the_protocols() -> None:
    assert json.loads(constants("rooms.js")["ROOM_PATTERN"]) == protocol.ROOM_PATTERN
    typing_ms = int(constants("typing.js")["TYPING_INTERVAL_MS"])
    assert typing_ms == protocol.TYPING_INTERVAL * 1000
    assert 1 <= int(constants("older.js")["HISTORY_PAGE"]) <= protocol.MAX_HISTORY_PAGE
