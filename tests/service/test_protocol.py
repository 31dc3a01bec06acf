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


def test_join_with_a_chosen_name_is_trimmed() -> None:
    frame = parse_client_frame('{"type":"join","name":"  Ada \u200d Lovelace  "}')
    assert frame == Join(name="Ada \u200d Lovelace")
    assert parse_client_frame('{"type":"join","name":"' + "n" * 40 + '"}').name == "n" * 40


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("   ", "empty"),
        ("\u200b\ufeff\u2060", "empty"),
        ("n" * 41, "over 40"),
        ("Ada\nLovelace", "control"),
        ("Ada\u001b[31m", "control"),
        ("Ada\u2028Lovelace", "line break"),
        *(
            (f"Bob{chr(c)}gnp.exe", "bidi")
            for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
        ),
    ],
)
def test_bad_names_are_refused_with_bad_name(name: str, detail: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(orjson.dumps({"type": "join", "name": name}).decode())
    assert caught.value.code == "bad_name"
    assert detail in caught.value.detail


def test_a_name_must_be_a_string() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame('{"type":"join","name":7}')
    assert caught.value.code == "bad_frame"


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
        # Only zero-width characters, a BOM, joiners, fillers: renders as nothing.
        (r'{"type":"send","text":"\u200b"}', "empty_text"),
        (r'{"type":"send","text":"\ufeff"}', "empty_text"),
        (r'{"type":"send","text":" \u200b\u200c\u200d\u2060\ufeff "}', "empty_text"),
        (r'{"type":"send","text":"\u3164\u115f\u00ad\ufe0f\udb40\udc41"}', "empty_text"),
        # Redis stream ids: ASCII digits, each part at most 2^64-1.
        ('{"type":"join","since":"99999999999999999999-0"}', "bad_frame"),
        ('{"type":"join","since":"18446744073709551616-0"}', "bad_frame"),
        ('{"type":"join","since":"0-18446744073709551616"}', "bad_frame"),
        (r'{"type":"join","since":"\u0661\u0662-\u0660"}', "bad_frame"),
        (r'{"type":"join","since":"\uff11\uff17-\uff10"}', "bad_frame"),
        ('{"type":"join","since":"17-3 "}', "bad_frame"),
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


def test_the_largest_stream_id_is_a_valid_since() -> None:
    largest = f"{2**64 - 1}-{2**64 - 1}"
    assert parse_client_frame(f'{{"type":"join","since":"{largest}"}}') == Join(since=largest)


def test_visible_text_with_invisible_characters_is_kept_as_sent() -> None:
    # Joiners and variation selectors inside emoji and words are part of the text.
    for text in ("\u2764\ufe0f", "\U0001f469\u200d\U0001f4bb", "a\u200bb", "\ufeffhi"):
        frame = orjson.dumps({"type": "send", "text": text}).decode()
        assert parse_client_frame(frame).text == text


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
