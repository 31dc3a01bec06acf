"""contract.protocol: the protocol v1 limits are self-consistent."""

from __future__ import annotations

from contract import protocol


def test_room_names() -> None:
    assert protocol.ROOM_NAME.fullmatch(protocol.DEFAULT_ROOM)
    assert protocol.ROOM_NAME.fullmatch("a" * protocol.ROOM_MAX_CHARS)
    assert not protocol.ROOM_NAME.fullmatch("a" * (protocol.ROOM_MAX_CHARS + 1))
    for bad in ("", "Lobby", "-lobby", "lob by", "lobby\n", "lobbé"):
        assert not protocol.ROOM_NAME.fullmatch(bad), bad


def test_close_codes_are_distinct_websocket_codes() -> None:
    codes = [v for k, v in vars(protocol).items() if k.startswith("CLOSE_")]
    assert len(codes) == len(set(codes))
    assert all(1000 <= code <= 4999 for code in codes)


def test_error_codes() -> None:
    assert len(set(protocol.ERROR_CODES)) == len(protocol.ERROR_CODES)
    assert set(protocol.RETRYABLE_ERRORS) <= set(protocol.ERROR_CODES)


def test_limits() -> None:
    assert protocol.MAX_TEXT_CHARS == 2000  # protocol v1: changing it changes the protocol
    assert 0 < protocol.MAX_NAME_CHARS < protocol.MAX_TEXT_CHARS
    assert protocol.MAX_REF_CHARS > 0
