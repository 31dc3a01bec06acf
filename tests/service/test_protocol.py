import orjson
import pytest

from service import protocol
from service.protocol import Join, Ping, ProtocolError, Send, parse_client_frame


def test_join_defaults_to_lobby() -> None:
    assert parse_client_frame('{"type":"join"}') == Join(room="lobby")


def test_join_with_everything() -> None:
    frame = parse_client_frame(
        '{"type":"join","room":"dev-ops_1","token":"abcdefghijklmnopqrstuvwx","since":"17-3"}'
    )
    assert frame == Join(room="dev-ops_1", token="abcdefghijklmnopqrstuvwx", since="17-3")


def test_send_trims_text_and_keeps_ref() -> None:
    assert parse_client_frame('{"type":"send","text":"  hi  ","ref":"r1"}') == Send("hi", "r1")
    assert parse_client_frame('{"type":"send","text":"x","ref":7}') == Send("x", "7")


def test_ping() -> None:
    assert parse_client_frame('{"type":"ping"}') == Ping()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_frame"),
        ("[1,2]", "bad_frame"),
        ('"join"', "bad_frame"),
        ('{"type":"shout"}', "bad_frame"),
        ('{"no":"type"}', "bad_frame"),
        ('{"type":"join","room":"Lobby"}', "bad_room"),
        ('{"type":"join","room":"-lobby"}', "bad_room"),
        ('{"type":"join","room":""}', "bad_room"),
        ('{"type":"join","room":"' + "a" * 65 + '"}', "bad_room"),
        ('{"type":"join","room":"a b"}', "bad_room"),
        ('{"type":"join","room":5}', "bad_frame"),
        ('{"type":"join","since":"yesterday"}', "bad_frame"),
        ('{"type":"join","token":"short"}', "bad_frame"),
        ('{"type":"send"}', "bad_frame"),
        ('{"type":"send","text":5}', "bad_frame"),
        ('{"type":"send","text":"   "}', "empty_text"),
        ('{"type":"send","text":"' + "x" * 2001 + '"}', "too_long"),
        ('{"type":"send","text":"x","ref":{"a":1}}', "bad_frame"),
        ('{"type":"send","text":"x","ref":"' + "r" * 65 + '"}', "bad_frame"),
    ],
)
def test_bad_frames_get_a_code(raw: str, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(raw)
    assert caught.value.code == code
    assert caught.value.detail


def test_text_limit_counts_characters_after_trimming() -> None:
    text = "é" * 2000
    assert (
        parse_client_frame(orjson.dumps({"type": "send", "text": f" {text} "}).decode()).text
        == text
    )


def test_server_frames_are_valid_json() -> None:
    member = '{"id":"ab","username":"A \\"B\\"","avatar":"/avatars/ab.svg"}'
    body = protocol.message_body("ab", 'A "B"', "/avatars/ab.svg", '<img src=x> \u2028 "q"')
    message = protocol.message_json("1700000000123-4", body)
    frames = [
        protocol.welcome("lobby", member, "tok"),
        protocol.member_history({"ab": member}),
        protocol.message_history([message, message], complete=False),
        protocol.messages(message),
        protocol.member_add(member),
        protocol.member_delete("ab"),
        protocol.ack(None, "1-0"),
        protocol.error("bad_frame", "x"),
        protocol.PONG,
    ]
    parsed = [orjson.loads(frame) for frame in frames]
    assert [p["type"] for p in parsed] == [
        "welcome", "member_history", "message_history", "messages",
        "member_add", "member_delete", "ack", "error", "pong",
    ]  # fmt: skip
    assert parsed[3]["message"] == {
        "id": "1700000000123-4",
        "date": 1700000000123,
        "member": "ab",
        "username": 'A "B"',
        "avatar": "/avatars/ab.svg",
        "text": '<img src=x> \u2028 "q"',
    }
    assert parsed[2]["complete"] is False
    assert parsed[1]["members"]["ab"]["username"] == 'A "B"'


def test_message_ids_order_numerically() -> None:
    assert protocol.parse_message_id("10-0") > protocol.parse_message_id("9-99")
    assert protocol.parse_message_id("10-2") > protocol.parse_message_id("10-1")
    with pytest.raises(ValueError, match="not a message id"):
        protocol.parse_message_id("10")
