"""The compact events the Lua scripts publish, and the frames relays before issue 17
published (a rolling deploy has both on one Redis): both read into the same typed event."""

from __future__ import annotations

import pytest

from service import protocol
from service.broker import MemberJoined, MemberLeft, Notice, Publication
from service.broker.redis.events import DECODE_ERRORS, decode
from service.members import Member

ALICE = Member(id="a1a1a1a1a1a1a1a1", username='Al "Quote" \u00e9', avatar="/avatars/a1.svg")
BODY = protocol.message_body(ALICE.id, ALICE.username, ALICE.avatar, "hi \u2603 \\ there")
ID = "1700000000123-4"
# What publish.lua published before issue 17: the client frame, built in Lua.
LEGACY_MESSAGE = f'{{"type":"messages","message":{{"id":"{ID}","date":1700000000123,{BODY}}}}}'


def test_a_compact_message_reads_into_a_publication_whose_frame_is_the_old_one() -> None:
    event = decode("r", f"m{ID} {BODY}")
    assert event == Publication("r", ID, (1700000000123, 4), BODY)
    assert protocol.message_frame(event.message_id, event.body) == LEGACY_MESSAGE


def test_a_legacy_message_frame_reads_into_the_same_publication() -> None:
    assert decode("r", LEGACY_MESSAGE) == decode("r", f"m{ID} {BODY}")


def test_member_events_compact_and_legacy() -> None:
    member_json = ALICE.to_json()
    joined = MemberJoined("r", ALICE.id, member_json)
    assert decode("r", "a" + member_json) == joined
    assert decode("r", protocol.member_add(member_json)) == joined
    assert protocol.member_add(member_json) == f'{{"type":"member_add","member":{member_json}}}'
    assert decode("r", "d" + ALICE.id) == MemberLeft("r", ALICE.id)
    assert decode("r", protocol.member_delete(ALICE.id)) == MemberLeft("r", ALICE.id)


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "x",
        "m",
        f"m{ID}",
        f"mnot-an-id {BODY}",
        f"m{ID} not json",
        f'm{ID} "a":1}},{{"b":2',  # splices two objects into one frame
        "a{not json",
        'a{"username":"no id"}',
        "a[1]",
        "d",
        "{not json",
        '{"type":"messages"}',
        '["x"]',
        '{"type":"welcome","room":"r"}',  # a relay's own frame, not a notice
        '{"type":"pong"}',
        '{"type":"messages","message":[1]}',
        '{"type":"member_add","member":{"id":""}}',
    ],
)
def test_malformed_events_are_refused(payload: str) -> None:
    with pytest.raises(DECODE_ERRORS):
        decode("r", payload)


def test_any_other_frame_is_a_notice_delivered_as_published() -> None:
    """A publish without history (a typing notice) reaches clients as it is."""
    typing = '{"type":"typing","member":"a1a1a1a1a1a1a1a1"}'
    assert decode("r", typing) == Notice("r", typing)
